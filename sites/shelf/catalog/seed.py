"""shelf's seed hook (``UPSTACK["SEED"]``): books, films, readers and reviews, into an empty database."""

from django.contrib.auth import get_user_model

from .models import Book, Film, Item, Review

READER_PASSWORD = "shelf-demo-reader"  # a demo account's, not a secret


def seed(size: int) -> None:
    if Item.objects.exists():
        return
    count = max(2, size // 100)
    books = [Book.objects.create(title=f"Book {n}", slug=f"book-{n}", author=f"Author {n}") for n in range(count)]
    films = [Film.objects.create(title=f"Film {n}", slug=f"film-{n}", director=f"Director {n}") for n in range(count)]
    User = get_user_model()
    readers = [User.objects.create_user(f"shelf-reader{n}", password=READER_PASSWORD) for n in range(2)]
    User.objects.create_user("shelf-editor", password=READER_PASSWORD, is_staff=True)
    for n, item in enumerate([*books, *films]):
        Review.objects.create(item=item, user=readers[n % 2], body=f"Review of {item.title}")
