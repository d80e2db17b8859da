"""The benchmark's workloads as request cycles for wrk (pure: no I/O).

- ``anonymous``: page views over the sampled pages with Zipf-like popularity (rank r gets weight
  1/r^1.1, so a few pages get most views), in a fixed shuffled order.
- ``logged_in``: article views by at least ``MIN_READERS`` distinct logged-in readers (their session
  cookies), so that what the edge keeps per session is fetched once per reader (and after each of
  their writes), not once for everyone; Zipf-like article choice, and a
  like or a comment on a few percent of views (``LOGGED_IN_WRITES``), each on the article just read.
- ``mixed_writes``: per 100 requests, 80 anonymous views, 15 logged-in views, 2 comments, 2 likes
  and 1 editor saving an article in the admin, spread through the cycle.

Every page view sends ``Accept-Encoding`` as browsers do (``BROWSER``): a stack that compresses
is measured sending what it would send a browser. A reader or editor is a ``Session``: the cookie header of a logged-in session and its CSRF token.
The same seed gives the same cycle for every stack, so the stacks replay identical traffic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import urlencode

from bench.wrk import Request, get, post

CYCLE = 300
LOGGED_IN_CYCLE = 1000  # long enough for each of the readers to read several articles
MIN_READERS = 200
LOGGED_IN_WRITES = {"like": 2, "comment": 1}  # per 100 logged-in views
MIX = {"anonymous": 80, "logged_in": 15, "comment": 2, "like": 2, "editor_save": 1}  # per 100 requests
BROWSER = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what Chrome and Firefox send


@dataclass(frozen=True)
class Session:
    cookie: str
    csrf: str


@dataclass(frozen=True)
class EditorForm:
    """An admin change form as served: its URL and the fields a browser would post back."""

    path: str
    fields: tuple[tuple[str, str], ...]


def zipf_views(paths: list[str], count: int = CYCLE, seed: int = 1) -> list[str]:
    weights = [1 / (rank ** 1.1) for rank in range(1, len(paths) + 1)]
    return random.Random(seed).choices(paths, weights=weights, k=count)


def view(path: str, headers: dict | None = None) -> Request:
    """A page view as a browser sends it."""
    return get(path, {**BROWSER, **(headers or {})})


def anonymous(paths: list[str]) -> list[Request]:
    return [view(p) for p in zipf_views(paths)]


def logged_in(paths: list[str], readers: list[Session], min_readers: int = MIN_READERS, seed: int = 1) -> list[Request]:
    if len(readers) < min_readers:
        raise ValueError(f"the logged-in workload needs at least {min_readers} distinct readers, got {len(readers)}")
    views = zipf_views(paths, LOGGED_IN_CYCLE, seed)
    rng = random.Random(seed)
    kinds = [kind for kind, n in LOGGED_IN_WRITES.items() for _ in range(n * LOGGED_IN_CYCLE // 100)]
    kinds += [None] * (LOGGED_IN_CYCLE - len(kinds))
    rng.shuffle(kinds)
    writes = iter(kinds)
    cycle = []
    for i, path in enumerate(views):
        reader = readers[i % len(readers)]
        cycle.append(view(path, {"Cookie": reader.cookie}))
        kind = next(writes)
        if kind == "like":
            cycle.append(post(path + "like/", urlencode({"csrfmiddlewaretoken": reader.csrf}), {"Cookie": reader.cookie}))
        elif kind == "comment":
            body = urlencode({"body": f"A reader's thought ({i}).", "csrfmiddlewaretoken": reader.csrf})
            cycle.append(post(path + "comments/", body, {"Cookie": reader.cookie}))
    return cycle


def mixed_writes(paths: list[str], readers: list[Session], editor: Session, forms: list[EditorForm],
                 seed: int = 1) -> list[Request]:
    """100 requests in the proportions of ``MIX``, shuffled with ``seed``."""
    if not readers or not forms:
        raise ValueError("the mixed workload needs readers and at least one editor form")
    rng = random.Random(seed)
    articles = [p for p in paths if p.startswith("/articles/")] or paths
    views = iter(zipf_views(paths, 100, seed))
    kinds = [kind for kind, n in MIX.items() for _ in range(n)]
    rng.shuffle(kinds)
    cycle = []
    for i, kind in enumerate(kinds):
        reader = readers[i % len(readers)]
        if kind == "anonymous":
            cycle.append(view(next(views)))
        elif kind == "logged_in":
            cycle.append(view(next(views), {"Cookie": reader.cookie}))
        elif kind == "comment":
            body = urlencode({"body": f"A thought from the benchmark ({i}).", "csrfmiddlewaretoken": reader.csrf})
            cycle.append(post(rng.choice(articles) + "comments/", body, {"Cookie": reader.cookie}))
        elif kind == "like":
            cycle.append(post(rng.choice(articles) + "like/", urlencode({"csrfmiddlewaretoken": reader.csrf}),
                              {"Cookie": reader.cookie}))
        else:
            form = forms[i % len(forms)]
            fields = [(k, v) for k, v in form.fields if k != "csrfmiddlewaretoken"]
            body = urlencode([*fields, ("csrfmiddlewaretoken", editor.csrf), ("_save", "Save")])
            cycle.append(post(form.path, body, {"Cookie": editor.cookie}))
    return cycle
