"""The newsroom's data: sections, authors, tags, articles, comments and likes.

Every filter and ordering a page uses has an index here; the page views rely on them and
on count-free pagination, so no page does an exact COUNT(*) over the articles table.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class Section(models.Model):
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("news:section", args=[self.slug])


class Author(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="author")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    bio = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("news:author", args=[self.slug])


class Tag(models.Model):
    name = models.CharField(max_length=60)
    slug = models.SlugField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("news:tag", args=[self.slug])


def end_of_minute(moment):
    """The last instant of ``moment``'s minute."""
    return moment.replace(second=59, microsecond=999999)


class ArticleQuerySet(models.QuerySet):
    def published(self):
        """Published, as of the end of the current minute: the query's parameters then stay the same
        for a minute, so the query cache (cachalot keys on the SQL and its parameters) can answer
        it - with ``now()`` to the microsecond every render missed it and ran the listing queries
        (docs/benchmarks.md, render profiles). An article scheduled for later in the minute shows
        up to a minute early."""
        return self.filter(status=Article.Status.PUBLISHED, published_at__lte=end_of_minute(timezone.now()))

    def for_listing(self):
        """What a teaser needs and nothing more: without the body, a body edit leaves every list
        showing the article cached (upstack's lean keys, docs/edge.md)."""
        return self.select_related("section", "author").defer("body")


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    # No single-column FK indexes where a composite index below starts with the column.
    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="articles", db_index=False)
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="articles", db_index=False)
    tags = models.ManyToManyField(Tag, blank=True, related_name="articles")
    standfirst = models.CharField(max_length=400, blank=True)
    body = models.TextField()
    lead_image = models.ImageField(upload_to="leads/%Y/%m/", blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Popularity, kept by the site (and by the seed's Zipf-like draw); "most read" orders by it.
    read_count = models.PositiveIntegerField(default=0)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-published_at", "-id"], name="article_latest"),
            models.Index(fields=["section", "status", "-published_at", "-id"], name="article_section"),
            models.Index(fields=["author", "status", "-published_at", "-id"], name="article_author"),
            models.Index(fields=["status", "-read_count"], name="article_most_read"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("news:article", args=[self.slug])


class Comment(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="comments", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(default=timezone.now)
    is_public = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Walked in order for one article's page; is_public is checked from the index itself
            # (a leading boolean would not help: SQLite compares it as a bare column, not "= 1").
            models.Index(fields=["article", "-created_at", "-id", "is_public"], name="comment_article_newest"),
        ]

    def __str__(self):
        return f"Comment {self.pk} on {self.article_id}"


class Like(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="likes", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "article"], name="like_once")]
        indexes = [models.Index(fields=["article"], name="like_article")]

    def __str__(self):
        return f"{self.user_id} likes {self.article_id}"
