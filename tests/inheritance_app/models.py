from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=50)


class Page(models.Model):
    title = models.CharField(max_length=100)
    slug = models.SlugField(unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    live = models.BooleanField(default=True)
    position = models.IntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]


class BlogPage(Page):
    body = models.TextField(blank=True)
    category = models.ForeignKey(Category, null=True, on_delete=models.SET_NULL, related_name="posts")


class LivePage(Page):
    class Meta:
        proxy = True
