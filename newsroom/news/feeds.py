"""The RSS feed of the latest articles."""

from django.contrib.syndication.views import Feed
from django.urls import reverse

from . import queries


class LatestFeed(Feed):
    title = "Newsroom: latest"
    description = "The latest published articles."

    def link(self):
        return reverse("news:home")

    def items(self):
        return queries.latest()

    def item_title(self, item):
        return item.title

    def item_description(self, item):
        return item.standfirst

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.updated_at

    def item_author_name(self, item):
        return item.author.name
