"""The editors' admin. List views stay fast on large tables: related rows joined in the list query,
no full result counts, raw-id pickers instead of giant select boxes."""

from django.contrib import admin

from .models import Article, Author, Comment, Like, Section, Tag


class FastListAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_per_page = 50


@admin.register(Section)
class SectionAdmin(FastListAdmin):
    list_display = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Tag)
class TagAdmin(FastListAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Author)
class AuthorAdmin(FastListAdmin):
    list_display = ["name", "slug", "user"]
    list_select_related = ["user"]
    search_fields = ["name"]
    raw_id_fields = ["user"]


@admin.register(Article)
class ArticleAdmin(FastListAdmin):
    list_display = ["title", "section", "author", "status", "published_at", "updated_at"]
    list_select_related = ["section", "author"]
    list_filter = ["status", "section"]
    search_fields = ["title"]
    raw_id_fields = ["author"]
    autocomplete_fields = ["tags"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["updated_at", "read_count"]
    ordering = ["-published_at", "-id"]


@admin.register(Comment)
class CommentAdmin(FastListAdmin):
    list_display = ["id", "article", "user", "created_at", "is_public"]
    list_select_related = ["article", "user"]
    list_filter = ["is_public"]
    raw_id_fields = ["article", "user"]
    ordering = ["-created_at", "-id"]


@admin.register(Like)
class LikeAdmin(FastListAdmin):
    list_display = ["id", "article", "user", "created_at"]
    list_select_related = ["article", "user"]
    raw_id_fields = ["article", "user"]
