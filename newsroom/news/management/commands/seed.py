"""``manage.py seed``: fill the newsroom with realistic, deterministic data, fast.

Realistic: eight sections, a few hundred tags, one author per ~20 users, Zipf-like popularity
(``read_count``) so a few articles get most of the traffic, comments skewed to popular articles, a
few drafts. Fast: everything goes through ``bulk_create`` in batches inside one transaction, and
every seeded user shares one precomputed password hash. Deterministic: one ``random.Random(seed)``
and a fixed base date. Safe: a database that already has articles is left untouched.
"""

import itertools
import random
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils.text import slugify
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from newsroom.news.models import Article, Author, Comment, Like, Section, Tag

from ._words import FIRST_NAMES, LAST_NAMES, SECTIONS, WORDS

BASE_DATE = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
SPAN_DAYS = 730
BATCH = 2000
ZIPF_S = 1.1
DRAFT_SHARE = 0.02
SEEDED_PASSWORD = "newsroom-seeded-reader"  # documented: seeded readers can log in for load tests


class Command(BaseCommand):
    help = (
        "Fill the database with realistic newsroom data (sections, tags, authors, articles with "
        "Zipf-like popularity, comments, likes). Deterministic for a given --seed; refuses to add to a "
        "database that already has articles."
    )

    def add_arguments(self, parser):
        parser.add_argument("--articles", type=int, default=3000, help="articles to create (default 3000)")
        parser.add_argument("--users", type=int, default=200, help="reader accounts (default 200)")
        parser.add_argument("--comments", type=int, default=20000, help="comments (default 20000)")
        parser.add_argument("--likes", type=int, default=None, help="likes (default: comments / 4)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--if-empty", action="store_true",
                            help="exit quietly (status 0) when the database already has articles")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *, articles, users, comments, likes, seed, if_empty, no_progress, **options):
        for name, value in (("--articles", articles), ("--users", users), ("--comments", comments)):
            if value < 0:
                raise CommandError(f"{name} must be >= 0, got {value}.")
        if articles and users < 1:
            raise CommandError("--users must be at least 1 when creating articles (authors are users).")
        existing = Article.objects.count()
        if existing:
            self.stdout.write(f"Database already seeded ({existing} articles); nothing to do.")
            return
        if get_user_model().objects.filter(username__startswith="reader0").exists():
            raise CommandError("Seeded reader accounts already exist but there are no articles; "
                               "seed into an empty database (e.g. `manage.py flush`) instead.")
        likes = comments // 4 if likes is None else likes
        seeder = Seeder(random.Random(seed), progress=None if no_progress or options["verbosity"] < 1 else _progress())
        with transaction.atomic():
            counts = seeder.run(articles=articles, users=users, comments=comments, likes=likes)
        # Fresh statistics, so the query planner picks the right index on the new data (SQLite keeps
        # none until ANALYZE; PostgreSQL's autovacuum would get there, later).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS("Seeded " + ", ".join(f"{n} {k}" for k, n in counts.items()) + "."))


def _progress():
    return Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def _batches(items, size=BATCH):
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


class Seeder:
    def __init__(self, rng: random.Random, progress=None):
        self.rng = rng
        self.progress = progress

    def _bulk(self, label, model, rows_iter, total, keep=None):
        """bulk_create ``total`` rows from a generator in batches, advancing the progress bar.

        Returns ``[keep(row) for each row]`` when ``keep`` is given, else the number of rows: a million
        articles and five million comments kept as model instances would take most of the machine's memory.
        """
        created, count = [], 0
        task = self.progress.add_task(label, total=total) if self.progress else None
        for chunk in _batches(rows_iter):
            model.objects.bulk_create(chunk, batch_size=BATCH)
            count += len(chunk)
            if keep is not None:
                created.extend(keep(row) for row in chunk)
            if task is not None:
                self.progress.advance(task, len(chunk))
        return created if keep is not None else count

    def run(self, *, articles, users, comments, likes):
        if self.progress:
            self.progress.start()
        try:
            return self._run(articles, users, comments, likes)
        finally:
            if self.progress:
                self.progress.stop()

    def _words(self, n):
        return " ".join(self.rng.choices(WORDS, k=n))

    def _run(self, n_articles, n_users, n_comments, n_likes):
        rng = self.rng
        sections = Section.objects.bulk_create(
            [Section(name=name, slug=slugify(name), position=i) for i, name in enumerate(SECTIONS)]
        )
        tag_names = sorted({f"{rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(260)})[:200]
        tags = Tag.objects.bulk_create(
            [Tag(name=name, slug=f"{slugify(name)}-{i}") for i, name in enumerate(tag_names)]
        )
        User = get_user_model()
        password = make_password(SEEDED_PASSWORD)

        def user_rows():
            for i in range(n_users):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                yield User(username=f"reader{i:06d}", first_name=first, last_name=last,
                           email=f"reader{i:06d}@example.test", password=password)

        readers = self._bulk("users", User, user_rows(), n_users, keep=lambda user: user)
        writers = readers[: max(1, n_users // 20)] if n_articles else []
        authors = Author.objects.bulk_create(
            [Author(user=u, name=f"{u.first_name} {u.last_name}", slug=f"{slugify(u.first_name + ' ' + u.last_name)}-{u.pk}",
                    bio=self._words(25).capitalize() + ".") for u in writers]
        )
        ranks = list(range(1, n_articles + 1))
        rng.shuffle(ranks)

        def article_rows():
            for i in range(n_articles):
                title = self._words(rng.randint(4, 9)).capitalize()
                paragraphs = [self._words(rng.randint(35, 60)).capitalize() + "." for _ in range(4)]
                published = BASE_DATE - timedelta(seconds=int(SPAN_DAYS * 86400 * (1 - i / max(n_articles, 1))))
                yield Article(
                    title=title, slug=f"{slugify(title)[:180]}-{i}", section=rng.choice(sections),
                    author=rng.choice(authors), standfirst=self._words(rng.randint(15, 30)).capitalize() + ".",
                    body="\n\n".join(paragraphs),
                    status=Article.Status.DRAFT if rng.random() < DRAFT_SHARE else Article.Status.PUBLISHED,
                    published_at=published, read_count=int(1_000_000 / ranks[i] ** ZIPF_S),
                )

        # Only (pk, published_at) of each article is kept: it is all the comments and likes below need.
        created = self._bulk("articles", Article, article_rows(), n_articles,
                             keep=lambda article: (article.pk, article.published_at))
        through = Article.tags.through
        tag_rows = (
            through(article_id=pk, tag_id=t.pk)
            for pk, _ in created for t in rng.sample(tags, rng.randint(1, 4))
        )
        n_tag_rows = self._bulk("tags", through, tag_rows, None)
        # Comments and likes fall on articles with Zipf-like weights: popular articles get most.
        weights = list(itertools.accumulate(1 / ranks[i] ** ZIPF_S for i in range(len(created))))

        def comment_rows():
            for _ in range(n_comments):
                article_id, published_at = rng.choices(created, cum_weights=weights)[0]
                when = published_at + timedelta(minutes=rng.randint(1, 60 * 24 * 7))
                yield Comment(article_id=article_id, user=rng.choice(readers), body=self._words(rng.randint(8, 60)).capitalize() + ".",
                              created_at=min(when, BASE_DATE), is_public=rng.random() > 0.03)

        n_created_comments = self._bulk("comments", Comment, comment_rows(), n_comments) if created else 0

        def like_rows():
            seen = set()
            for _ in range(n_likes * 3):
                if len(seen) >= n_likes:
                    break
                pair = (rng.choice(readers).pk, rng.choices(created, cum_weights=weights)[0][0])
                if pair not in seen:
                    seen.add(pair)
                    yield Like(user_id=pair[0], article_id=pair[1], created_at=BASE_DATE)

        n_created_likes = self._bulk("likes", Like, like_rows(), n_likes) if created else 0
        return {
            "sections": len(sections), "tags": len(tags), "users": len(readers), "authors": len(authors),
            "articles": len(created), "article tags": n_tag_rows, "comments": n_created_comments,
            "likes": n_created_likes,
        }
