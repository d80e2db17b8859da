from django.apps import AppConfig


class NewsConfig(AppConfig):
    name = "newsroom.news"
    label = "news"
    verbose_name = "News"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from upstack import images

        from . import data, fragments  # noqa: F401 - registers refresh-ahead payloads and ESI fragments
        from .models import Article

        images.register(Article, "lead_image")
