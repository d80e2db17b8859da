"""A GIN index for full-text search, on PostgreSQL only (SQLite uses the simple fallback)."""

from django.db import migrations


def _index():
    from django.contrib.postgres.indexes import GinIndex

    from newsroom.news.search import INDEX_NAME, VECTOR

    return GinIndex(VECTOR, name=INDEX_NAME)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("news", "Article"), _index())


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("news", "Article"), _index())


class Migration(migrations.Migration):
    dependencies = [("news", "0001_initial")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
