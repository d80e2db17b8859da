from bench.forms import csrf_token, form_fields

ADMIN = """
<form id="search"><input name="q" value="ignored"></form>
<form id="article_form" method="post" enctype="multipart/form-data">
<input type="hidden" name="csrfmiddlewaretoken" value="tok">
<input type="text" name="title" value="Caf&eacute; &amp; more">
<textarea name="body">
Line one
line two</textarea>
<select name="section"><option value="">---</option><option value="3" selected>World</option></select>
<select name="status"><option value="draft">Draft</option><option value="live">Live</option></select>
<select name="tags" multiple><option value="1" selected>a</option><option value="2">b</option>
<option value="5" selected>c</option></select>
<input type="checkbox" name="featured" checked><input type="checkbox" name="pinned">
<input type="file" name="lead_image"><input type="submit" name="_save" value="Save">
<input type="hidden" name="comments-TOTAL_FORMS" value="0">
</form>"""


def test_a_form_submits_what_a_browser_would():
    assert form_fields(ADMIN, "article_form") == [
        ("csrfmiddlewaretoken", "tok"), ("title", "Café & more"), ("body", "Line one\nline two"),
        ("section", "3"), ("status", "draft"), ("tags", "1"), ("tags", "5"), ("featured", "on"),
        ("comments-TOTAL_FORMS", "0")]


def test_without_an_id_the_first_form_is_read():
    assert form_fields(ADMIN) == [("q", "ignored")]
    assert form_fields(ADMIN, "missing") == []


def test_csrf_token():
    assert csrf_token(ADMIN) == "tok"
    assert csrf_token("<p>no form</p>") is None
