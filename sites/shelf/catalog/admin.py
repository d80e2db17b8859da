from django.contrib import admin

from .models import Book, Film, Item, Review

admin.site.register([Item, Book, Film, Review])
