"""No reader ever sees another reader's parts: many readers in parallel through the edge, logging
in and out, one client switching accounts, a replayed logged-out cookie - every page checked for
the name in the user bar, the CSRF token (unmasked to its secret, which must be the reader's own
session's) and the like state (each reader liked a different article first). Then the writes: a
like shows at once to the liker and its count to everyone within a second; a comment posted with
the token from the page lands.

Run in the stack's environment (`upstack up`); prints JSON, exit 1 on any leak or failure:

    env $(python manage.py upstack env) python -m bench.reader_leaks --readers 12 --views 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import threading
import time

from bench.edge_mix import SEEDED_PASSWORD, Browser, zipf_choice

NAME = re.compile(r"Signed in as <strong>([^<]+)</strong>")
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
LIKE_FORM = re.compile(r'<form class="like".*?</form>', re.S)
BUTTON = re.compile(r"<button[^>]*>(Liked|Like)</button>")
PAGE_ARTICLE = re.compile(r'<body data-article="(\d+)"')
LIKED_CSS = re.compile(r"body:is\(([^)]*)\) \.like \.like-done\{display:inline-block\}")
COUNT = re.compile(r"data-like-count>(\d+)<")


def secret(token: str) -> str:
    from django.middleware.csrf import _unmask_cipher_token  # how Django itself reads a form's token

    return _unmask_cipher_token(token)


def session_secret(browser: Browser) -> str:
    from importlib import import_module

    from django.conf import settings
    from django.middleware.csrf import CSRF_SESSION_KEY

    key = next(c.value for c in browser.jar if c.name == settings.SESSION_COOKIE_NAME)
    return import_module(settings.SESSION_ENGINE).SessionStore(key).get(CSRF_SESSION_KEY, "")


def like_states(body: str) -> list[str]:
    """The like button a person sees in each like form of a page. The reader include's form has both
    buttons, and its CSS shows "Liked" on the pages (``<body data-article=id>``) of the reader's liked
    articles (news/fragments.liked_css); an inline form has one button."""
    page = PAGE_ARTICLE.search(body)
    liked = {int(i) for group in LIKED_CSS.findall(body) for i in re.findall(r'data-article="(\d+)"', group)}
    states = []
    for form in LIKE_FORM.findall(body):
        if 'class="like-done"' in form:
            states.append("Liked" if page and int(page.group(1)) in liked else "Like")
        else:
            states += BUTTON.findall(form)[:1]
    return states


def check_page(body: str, who: str | None, name: str | None, own_secret: str, liked: bool | None) -> list[str]:
    """What is wrong with one page seen by ``who`` (None: logged out); pure."""
    problems = []
    shown = NAME.findall(body)
    if shown != ([name] if name else []):
        problems.append(f"{who}: user bar shows {shown}")
    for token in TOKEN.findall(body):
        if who is None:
            problems.append("logged out: a CSRF token in the page")
        elif secret(token) != own_secret:
            problems.append(f"{who}: a CSRF token not from their own session")
    state = like_states(body)
    if who is None and state:
        problems.append("logged out: a like button")
    elif liked is not None and state != ["Liked" if liked else "Like"]:
        problems.append(f"{who}: like state {state}, expected {'Liked' if liked else 'Like'}")
    return problems


def accounts(model, count: int) -> list:
    """``count`` reader accounts with the seeded password: the seeded readers, then ``leakreaderNNN``
    accounts made here with the same password hash (a small seed has only a few readers)."""
    users = list(model.objects.filter(username__startswith="reader").order_by("pk")[:count])
    if not users:
        raise RuntimeError("no seeded readers: seed the database first")
    missing = [f"leakreader{n:03d}" for n in range(count - len(users))]
    known = set(model.objects.filter(username__in=missing).values_list("username", flat=True))
    model.objects.bulk_create(model(username=name, first_name="Leak", last_name=f"Reader {name[-3:]}",
                                    password=users[0].password) for name in missing if name not in known)
    return users + list(model.objects.filter(username__in=missing).order_by("username"))


def run(edge: str, readers: int, views: int, seed: int = 1) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from newsroom.news.models import Article, Comment, Like

    users = accounts(get_user_model(), readers + 2)
    articles = list(Article.objects.published().order_by("-read_count")[:readers + 20])
    Like.objects.filter(user__in=users, article__in=articles).delete()  # a known like state
    problems, lock, stats = [], threading.Lock(), {"views": 0, "writes": 0}
    # Logins hash a password (deliberately slow): a few at a time, so that the app keeps answering.
    logins = threading.Semaphore(3)

    def login(browser, user):
        with logins:
            browser.login(user.username, SEEDED_PASSWORD)

    def report(found):
        with lock:
            problems.extend(found)

    def reader(index: int):
        user, rng = users[index], random.Random(seed + index)
        browser = Browser(edge)
        login(browser, user)
        mine = articles[index]  # each reader likes a different article
        status, _, body = browser.get(mine.get_absolute_url())
        token = TOKEN.search(body).group(1)
        status, _, body = browser.get(mine.get_absolute_url() + "like/", {"csrfmiddlewaretoken": token})
        report(check_page(body, user.username, user.get_full_name(), session_secret(browser), True))  # at once
        own = session_secret(browser)
        for _ in range(views):
            article = zipf_choice(rng, articles)
            status, _, body = browser.get(article.get_absolute_url())
            found = [] if status == 200 else [f"{user.username}: status {status}"]
            report(found + check_page(body, user.username, user.get_full_name(), own, article == mine))
            with lock:
                stats["views"] += 1

    def switcher():
        """One client: log in as A, log out, log in as B; each page must be the current account's."""
        browser, page = Browser(edge), articles[0].get_absolute_url()
        for _ in range(max(2, views // 5)):
            for user in users[readers:readers + 2]:
                login(browser, user)
                status, _, body = browser.get(page)
                report(check_page(body, user.username, user.get_full_name(), session_secret(browser), False))
                old = [(c.name, c.value) for c in browser.jar]
                browser.get("/accounts/logout/", {"csrfmiddlewaretoken": TOKEN.search(body).group(1)})
                status, _, body = browser.get(page)
                report(check_page(body, None, None, "", None))
                replay = Browser(edge)  # the logged-out session's cookie, replayed
                status, _, body = replay.get(page, headers={"Cookie": "; ".join(f"{n}={v}" for n, v in old)})
                report(["a logged-out cookie replayed: " + p for p in check_page(body, None, None, "", None)])
                with lock:
                    stats["views"] += 3

    def guarded(target, *args):
        try:
            target(*args)
        except Exception as exc:  # noqa: BLE001 - a thread that died is a failure to report, not to lose
            report([f"{target.__name__}{args}: {type(exc).__name__}: {exc}"])

    threads = [threading.Thread(target=guarded, args=(reader, i)) for i in range(readers)]
    threads.append(threading.Thread(target=guarded, args=(switcher,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # The like count, for everyone, within a second of a like.
    liker, target = users[0], articles[-1]
    browser = Browser(edge)
    browser.login(liker.username, SEEDED_PASSWORD)
    token = TOKEN.search(browser.get(target.get_absolute_url())[2]).group(1)
    Browser(edge).get(target.get_absolute_url())  # the anonymous copy is cached
    browser.get(target.get_absolute_url() + "like/", {"csrfmiddlewaretoken": token})
    liked_at, expected, seen = time.monotonic(), Like.objects.filter(article=target).count(), None
    while time.monotonic() - liked_at < 1.0:
        seen = [int(COUNT.search(b.get(target.get_absolute_url())[2]).group(1)) for b in (Browser(edge), browser)]
        if seen == [expected, expected]:
            break
        time.sleep(0.05)
    count_delay = round(time.monotonic() - liked_at, 3)
    if seen != [expected, expected]:
        problems.append(f"like count {seen} a second after a like, expected {expected} for everyone")
    # A comment posted through the edge with the page's token.
    body_text = f"A leak-check comment {seed}-{time.time_ns()}"
    token = TOKEN.findall(browser.get(target.get_absolute_url())[2])[-1]
    status, _, _ = browser.get(target.get_absolute_url() + "comments/", {"body": body_text, "csrfmiddlewaretoken": token})
    if not Comment.objects.filter(body=body_text, user=liker).exists():
        problems.append(f"a comment posted with the page's token did not land (status {status})")
    return {"readers": readers, "views": stats["views"], "problems": problems[:20], "problem_count": len(problems),
            "like_count_seconds": count_delay}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edge", default=os.environ.get("EDGE_URL"))
    parser.add_argument("--readers", type=int, default=12)
    parser.add_argument("--views", type=int, default=20, help="page views per reader")
    args = parser.parse_args(argv)
    result = run(args.edge.rstrip("/"), args.readers, args.views)
    print(json.dumps(result, indent=2))
    return 0 if result["problem_count"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
