from collections import Counter
from urllib.parse import parse_qs

import pytest

from bench import workloads
from bench.workloads import EditorForm, Session

PATHS = ["/", *(f"/articles/a{n}/" for n in range(30)), "/sections/world/"]
READERS = [Session(f"sessionid=r{n}", f"tok{n}") for n in range(3)]
EDITOR = Session("sessionid=ed", "edtok")
FORMS = [EditorForm("/desk/news/article/7/change/", (("csrfmiddlewaretoken", "stale"), ("title", "T"),
                                                    ("tags", "1"), ("tags", "2")))]


def test_popular_pages_get_most_views_and_every_stack_gets_the_same_cycle():
    views = Counter(path for _, path, _, _ in workloads.anonymous(PATHS))
    assert views["/"] > views["/articles/a0/"] > views["/sections/world/"]
    assert workloads.anonymous(PATHS) == workloads.anonymous(PATHS)


def test_logged_in_views_use_many_readers_zipf_articles_and_a_few_writes():
    readers = [Session(f"sessionid=r{n}", f"tok{n}") for n in range(workloads.MIN_READERS)]
    articles = PATHS[1:-1]
    cycle = workloads.logged_in(articles, readers)
    views = [r for r in cycle if r[0] == "GET"]
    writes = [r for r in cycle if r[0] == "POST"]
    assert len(views) == workloads.LOGGED_IN_CYCLE
    assert {headers["Cookie"] for _, _, headers, _ in views} == {r.cookie for r in readers}
    counts = Counter(path for _, path, _, _ in views)
    assert counts[articles[0]] > counts[articles[5]] > counts[articles[-1]]  # Zipf-like
    kinds = Counter(path.rstrip("/").rsplit("/", 1)[-1] for _, path, _, _ in writes)
    assert kinds == {"like": 20, "comments": 10}  # 3% of views
    for (_, viewed, headers, _), (method, path, post_headers, body) in zip(cycle, cycle[1:], strict=False):
        if method == "POST":  # a write on the article just read, by its reader, with their token
            assert path.startswith(viewed) and post_headers["Cookie"] == headers["Cookie"]
            reader = next(r for r in readers if r.cookie == headers["Cookie"])
            assert parse_qs(body)["csrfmiddlewaretoken"] == [reader.csrf]
    assert workloads.logged_in(articles, readers) == cycle


def test_too_few_readers_for_the_logged_in_workload_is_an_error():
    with pytest.raises(ValueError, match="at least 200 distinct readers"):
        workloads.logged_in(PATHS, READERS)


def kind(request):
    method, path, headers, _ = request
    if method == "GET":
        return "logged_in" if "Cookie" in headers else "anonymous"
    return {"comments": "comment", "like": "like", "change": "editor_save"}[path.rstrip("/").rsplit("/", 1)[-1]]


def test_the_mixed_cycle_has_the_documented_proportions_and_valid_writes():
    cycle = workloads.mixed_writes(PATHS, READERS, EDITOR, FORMS)
    assert Counter(kind(r) for r in cycle) == Counter(workloads.MIX)
    for method, path, headers, body in cycle:
        if method != "POST":
            continue
        form = parse_qs(body)
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        if path.endswith("/change/"):  # the editor's own token replaces the one served in the form
            assert headers["Cookie"] == EDITOR.cookie and form["csrfmiddlewaretoken"] == ["edtok"]
            assert form["tags"] == ["1", "2"] and form["_save"] == ["Save"]
        else:
            reader = next(r for r in READERS if r.cookie == headers["Cookie"])
            assert form["csrfmiddlewaretoken"] == [reader.csrf]
            assert path.startswith("/articles/")


def test_every_page_view_accepts_compression_as_browsers_do():
    cycles = [workloads.anonymous(PATHS), workloads.logged_in(PATHS, READERS, min_readers=1),
              workloads.mixed_writes(PATHS, READERS, EDITOR, FORMS)]
    views = [headers for cycle in cycles for method, _, headers, _ in cycle if method == "GET"]
    assert views and all(h["Accept-Encoding"] == workloads.BROWSER["Accept-Encoding"] for h in views)
