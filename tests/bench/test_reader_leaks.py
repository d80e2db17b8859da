"""The leak check's judge (bench/reader_leaks.py check_page) catches each kind of leak."""

from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

from bench.reader_leaks import check_page, like_states

MINE, THEIRS = _get_new_csrf_string(), _get_new_csrf_string()


def page(name=None, secret=None, liked=None):
    html = "<html>"
    if name:
        html += f'<span class="who">Signed in as <strong>{name}</strong></span>'
    if secret:
        html += f'<input type="hidden" name="csrfmiddlewaretoken" value="{_mask_cipher_secret(secret)}">'
    if liked is not None:
        html += f'<form class="like" method="post" action="like/"><button type="submit">{"Liked" if liked else "Like"}</button></form>'
    return html + "</html>"


def test_a_readers_own_page_passes():
    assert check_page(page("Ada", MINE, True), "ada", "Ada", MINE, True) == []
    assert check_page(page(), None, None, "", None) == []


def test_each_kind_of_leak_is_caught():
    assert check_page(page("Bob", MINE, True), "ada", "Ada", MINE, True) == ["ada: user bar shows ['Bob']"]
    assert check_page(page("Ada", THEIRS, True), "ada", "Ada", MINE, True) == [
        "ada: a CSRF token not from their own session"]
    assert check_page(page("Ada", MINE, True), "ada", "Ada", MINE, False) == ["ada: like state ['Liked'], expected Like"]
    assert check_page(page("Ada", None, None), None, None, "", None) == ["None: user bar shows ['Ada']"]
    assert check_page(page(None, THEIRS, False), None, None, "", None) == [
        "logged out: a CSRF token in the page", "logged out: a like button"]


def include_page(article: int, liked_ids: set[int]) -> str:
    """An article page behind the edge: the include's like form has both buttons, its CSS the state."""
    from newsroom.news.fragments import liked_css

    return (f'<html><body data-article="{article}"><span class="who">Signed in as <strong>Ada</strong></span>'
            '<form class="like" method="post" action="like/"><button type="submit" class="like-add">Like</button>'
            f'<button type="submit" class="like-done" disabled>Liked</button></form><style>{liked_css(liked_ids)}</style>')


def test_the_like_state_of_the_reader_include_is_read_from_its_css():
    assert like_states(include_page(5, {5, 9})) == ["Liked"]
    assert like_states(include_page(5, {9})) == ["Like"] and like_states(include_page(5, set())) == ["Like"]
    assert check_page(include_page(5, {5}), "ada", "Ada", MINE, True) == []
    # Someone else's like (or a lost one) shows as the wrong state on the page.
    assert check_page(include_page(5, {5}), "ada", "Ada", MINE, False) == ["ada: like state ['Liked'], expected Like"]
    assert check_page(include_page(5, {7}), "ada", "Ada", MINE, True) == ["ada: like state ['Like'], expected Liked"]
