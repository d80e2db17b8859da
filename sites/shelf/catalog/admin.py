from django.contrib import admin

from .models import Book, Film, Review

admin.site.register([Book, Film, Review])
