"""Readers and an editor logged in through each stack (bench/run.py), and the check that each kind of
write a workload sends lands: a 302 to where a successful write redirects, and its row in the database.

The logged-in workload's 200 reader sessions are made in the shared database (bench/readers.py); these
write through the stack they were logged in through: the mixed workload's comments, likes and admin
saves (bench/workloads.py), and the staleness probes' comments (bench/staleness.py).
"""

from __future__ import annotations

import http.client
import urllib.parse

from bench import workloads, wrk
from bench.forms import csrf_token, form_fields

READERS = 4


def session(base: str, username: str, password: str, page: str):
    """Log in through ``base``; the session and a browser holding it (``page`` gives the CSRF token)."""
    from bench.edge_mix import Browser

    browser = Browser(base)
    browser.login(username, password)
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.jar if c.name == "sessionid")
    status, _, html = browser.get(page)
    token = csrf_token(html)
    if status != 200 or not cookie or not token:
        raise RuntimeError(f"{username} at {base}{page}: status {status}, session cookie {bool(cookie)}, "
                           f"CSRF token {bool(token)}")
    return workloads.Session(cookie, token), browser


def writers(base: str, site: dict, editor_password: str) -> dict:
    """Readers (seeded accounts) and an editor with the admin forms they will save, through ``base``."""
    from bench.edge_mix import SEEDED_PASSWORD

    article = next(p for p in site["paths"] if p.startswith("/articles/"))
    readers = [session(base, f"reader{n:06d}", SEEDED_PASSWORD, article)[0] for n in range(1, READERS + 1)]
    editor, browser = session(base, site["editor"], editor_password, site["editor_articles"][0])
    forms = []
    for path in site["editor_articles"]:
        fields = form_fields(browser.get(path)[2], "article_form")
        if not fields:
            raise RuntimeError(f"no article form at {base}{path}")
        forms.append(workloads.EditorForm(path, tuple(fields)))
    return {"readers": readers, "editor": editor, "forms": forms}


def expected_location(kind: str, path: str) -> str:
    """Where a successful write of ``kind`` to ``path`` redirects: a comment to the article's comments,
    a like back to the article, an admin save to the change list (a login redirect is a failure)."""
    if kind == "admin":
        return path.rsplit("/", 3)[0] + "/"
    article = path.rsplit("/", 2)[0] + "/"
    return article + "#comments" if kind == "comments" else article


def landed(database_url: str, kind: str, path: str, body: str) -> int:
    """How many rows show the write of ``kind``: comments with its text, likes on its article, admin
    log entries for the edited article."""
    import psycopg

    if kind == "admin":
        sql, args = ("SELECT count(*) FROM django_admin_log WHERE object_id = %s AND action_flag = 2",
                     [path.rsplit("/", 3)[1]])
    elif kind == "comments":
        sql, args = "SELECT count(*) FROM news_comment WHERE body = %s", [urllib.parse.parse_qs(body)["body"][0]]
    else:
        sql, args = ("SELECT count(*) FROM news_like l JOIN news_article a ON a.id = l.article_id WHERE a.slug = %s",
                     [path.rstrip("/").rsplit("/", 2)[1]])
    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def check_writes(base: str, cycle: list[wrk.Request], database_url: str) -> None:
    """Send the first write of each kind once; each must redirect (302) where a successful write
    does, and its row must land in the database, or nothing is measured."""
    seen = set()
    parts = urllib.parse.urlsplit(base)
    for method, path, headers, body in cycle:
        kind = "admin" if "/change/" in path else path.rstrip("/").rsplit("/", 1)[-1]
        if method != "POST" or kind in seen:
            continue
        seen.add(kind)
        before = landed(database_url, kind, path, body)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request(method, path, body=body, headers={"Host": wrk.HOST, **headers})
        response = conn.getresponse()
        content = response.read()
        conn.close()
        location = urllib.parse.urlsplit(response.getheader("Location") or "")
        where = location.path + (f"#{location.fragment}" if location.fragment else "")
        if response.status != 302 or where != expected_location(kind, path):
            raise RuntimeError(f"{kind} write at {base}{path} answered {response.status} to {where!r}, not 302 to "
                               f"{expected_location(kind, path)!r}: {content[:400]!r}")
        # A like is once per reader: a repeated one adds no row, but one must be there.
        after = landed(database_url, kind, path, body)
        if after <= before and not (kind == "like" and after):
            raise RuntimeError(f"{kind} write at {base}{path} answered 302 but no row landed ({before} -> {after})")
