"""The newsroom's load-test inputs (``UPSTACK["LOADTEST_PREPARE"]``, read by ``upstack loadtest``):
the most read articles, the sections and tags, and what bench/locustfile.py needs to act as readers."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from .models import Article, Section, Tag


def prepare(top: int) -> tuple[list[str], dict[str, str]]:
    articles = list(Article.objects.published().order_by("-read_count").values_list("slug", "pk")[:top])
    urls = ["/", *[f"/articles/{slug}/" for slug, _ in articles],
            *[s.get_absolute_url() for s in Section.objects.all()], *[t.get_absolute_url() for t in Tag.objects.all()[:20]]]
    readers = get_user_model().objects.filter(username__startswith="reader").count()
    return urls, {"UPSTACK_LOADTEST_READERS": str(max(1, readers)),
                  "UPSTACK_LOADTEST_ARTICLE_IDS": ",".join(str(pk) for _, pk in articles[:50]) or "1"}
