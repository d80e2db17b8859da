"""What the benchmark needs from the site, read in the stack's own environment (its settings and
database): ``python -m bench.site`` prints one JSON object.

- ``paths``: the home page, the 60 most-read articles and the section pages, most popular first;
- ``editor``: the user name of a staff account whose password is ``$BENCH_EDITOR_PASSWORD`` (the
  runner makes a random one per run; no password is stored in the repository);
- ``editor_articles``: the change-form paths the editors re-save;
- ``signed``: the most-read article with a signed fresh-render bypass (the ladder's cold render).
"""

from __future__ import annotations

import json
import os


def describe() -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from newsroom.news.models import Article, Section
    from upstack import conf
    from upstack.cache.bypass import bypass_signature

    editor, _ = get_user_model().objects.get_or_create(username="bench-editor")
    editor.is_staff = editor.is_superuser = True
    editor.set_password(os.environ["BENCH_EDITOR_PASSWORD"])
    editor.save()
    top = list(Article.objects.published().order_by("-read_count", "pk")[:60])
    if not top:
        raise SystemExit("no published articles: seed the database first")
    article = top[0].get_absolute_url()
    return {
        "paths": ["/", *(a.get_absolute_url() for a in top), *(s.get_absolute_url() for s in Section.objects.all())],
        "editor": editor.username,
        "editor_articles": [f"/{settings.ADMIN_URL}news/article/{a.pk}/change/" for a in top[-3:]],
        "signed": f"{article}?{conf.get('BYPASS_PARAM')}={bypass_signature(article)}",
    }


if __name__ == "__main__":
    print(json.dumps(describe()))
