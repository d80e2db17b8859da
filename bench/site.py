"""What the benchmark needs from the site, read in the stack's own environment (its settings and
database): ``python -m bench.site`` prints one JSON object.

- ``paths``: the home page, the 60 most-read articles and the section pages, most popular first;
- ``editor``: the user name of a staff account whose password is ``$BENCH_EDITOR_PASSWORD`` (the
  runner makes a random one per run; no password is stored in the repository);
- ``editor_articles``: the change-form paths the editors re-save;
- ``signed``: the most-read article with a signed fresh-render bypass (the ladder's cold render).

``python -m bench.site --signed-newest N`` prints instead the N newest published articles, one per
line, each with a signed fresh-render bypass (the data-size benchmark's cold renders).
"""

from __future__ import annotations

import argparse
import json
import os


def signed(path: str) -> str:
    """``path`` with the fresh-render parameter signed for it (Django must be set up)."""
    from upstack import conf
    from upstack.cache.bypass import bypass_signature

    return f"{path}?{conf.get('BYPASS_PARAM')}={bypass_signature(path)}"


def signed_newest(count: int) -> list[str]:
    from newsroom.news.models import Article

    return [signed(a.get_absolute_url()) for a in Article.objects.published().order_by("-id")[:count]]


def describe() -> dict:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from newsroom.news.models import Article, Section

    editor, _ = get_user_model().objects.get_or_create(username="bench-editor")
    editor.is_staff = editor.is_superuser = True
    editor.set_password(os.environ["BENCH_EDITOR_PASSWORD"])
    editor.save()
    top = list(Article.objects.published().order_by("-read_count", "pk")[:60])
    if not top:
        raise SystemExit("no published articles: seed the database first")
    return {
        "paths": ["/", *(a.get_absolute_url() for a in top), *(s.get_absolute_url() for s in Section.objects.all())],
        "editor": editor.username,
        "editor_articles": [f"/{settings.ADMIN_URL}news/article/{a.pk}/change/" for a in top[-3:]],
        "signed": signed(top[0].get_absolute_url()),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="What the benchmark needs from the site, as JSON.")
    parser.add_argument("--signed-newest", type=int, metavar="N",
                        help="print the N newest published articles with a signed fresh-render bypass instead")
    args = parser.parse_args(argv)
    import django

    django.setup()
    if args.signed_newest:
        print("\n".join(signed_newest(args.signed_newest)))
    else:
        print(json.dumps(describe()))


if __name__ == "__main__":
    main()
