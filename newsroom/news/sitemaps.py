"""``/sitemap.xml``: sections and the newest articles (a sitemap holds at most 50,000 URLs)."""

from django.contrib.sitemaps import Sitemap

from .models import Article, Section

MAX_ARTICLES = 50_000


class ArticleSitemap(Sitemap):
    changefreq = "hourly"
    limit = MAX_ARTICLES

    def items(self):
        return Article.objects.published().only("slug", "updated_at", "published_at")[:MAX_ARTICLES]

    def lastmod(self, item):
        return item.updated_at


class SectionSitemap(Sitemap):
    changefreq = "hourly"
    priority = 0.8

    def items(self):
        return Section.objects.all()


SITEMAPS = {"sections": SectionSitemap, "articles": ArticleSitemap}
