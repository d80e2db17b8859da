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


def test_logged_in_views_rotate_the_readers_sessions():
    cycle = workloads.logged_in(PATHS[1:], READERS)
    assert {headers["Cookie"] for _, _, headers, _ in cycle} == {r.cookie for r in READERS}
    assert all(method == "GET" for method, *_ in cycle)
    with pytest.raises(ValueError):
        workloads.logged_in(PATHS, [])


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
    cycles = [workloads.anonymous(PATHS), workloads.logged_in(PATHS, READERS),
              workloads.mixed_writes(PATHS, READERS, EDITOR, FORMS)]
    views = [headers for cycle in cycles for method, _, headers, _ in cycle if method == "GET"]
    assert views and all(h["Accept-Encoding"] == workloads.BROWSER["Accept-Encoding"] for h in views)
