"""A catalogue: items are books or films (multi-table inheritance), the available ones a proxy with
its own manager, each with readers' reviews and an uploaded cover."""

from django.conf import settings
from django.db import models
from django.urls import reverse


class Item(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    available = models.BooleanField(default=True)
    cover = models.FileField(upload_to="covers/", blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("item", args=[self.slug])

    @property
    def kind(self) -> str:
        return "book" if hasattr(self, "book") else "film" if hasattr(self, "film") else "item"


class Book(Item):
    author = models.CharField(max_length=200)


class Film(Item):
    director = models.CharField(max_length=200)


class AvailableManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(available=True)


class AvailableItem(Item):
    objects = AvailableManager()

    class Meta:
        proxy = True
        ordering = ["title"]


class Review(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="reviews")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    body = models.TextField()

    class Meta:
        ordering = ["pk"]
