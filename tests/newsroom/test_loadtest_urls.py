"""The newsroom's load-test hook (UPSTACK["LOADTEST_PREPARE"]): the most read articles first, every
section, and the reader count and article ids bench/locustfile.py uses."""

from django.test import Client

from newsroom.news.loadtest import prepare
from newsroom.news.models import Article


def test_most_read_first_and_every_url_serves(seeded):
    urls, env = prepare(top=5)
    most_read = Article.objects.published().order_by("-read_count").first()
    assert urls[0] == "/" and urls[1] == f"/articles/{most_read.slug}/"
    assert int(env["UPSTACK_LOADTEST_READERS"]) >= 1 and env["UPSTACK_LOADTEST_ARTICLE_IDS"].split(",")[0] == str(most_read.pk)
    client = Client()
    assert {url: client.get(url).status_code for url in urls} == dict.fromkeys(urls, 200)
