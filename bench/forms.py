"""What a browser would submit for an HTML form: the load tests' editors re-save admin forms as they
were served, and the benchmark's writers post comment and like forms.

Written here rather than taken from a library because the benchmark needs only the standard
library's ``html.parser`` (no BeautifulSoup or lxml in the benchmark's dependencies) and the rules are
the few that matter for Django's forms: inputs (checked boxes only, no files or buttons), textareas,
and every selected option of a select (the first option when none is marked, as browsers do).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_SKIPPED_INPUTS = {"file", "submit", "button", "image", "reset"}


class _FormParser(HTMLParser):
    def __init__(self, form_id: str | None):
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.done = form_id, False, False
        self.fields: list[tuple[str, str]] = []
        self._textarea: str | None = None
        self._text: list[str] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._multiple = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and not self.done and (self.form_id is None or a.get("id") == self.form_id):
            self.inside = True
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type", "text").lower() not in _SKIPPED_INPUTS:
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((name, a.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []
        elif tag == "select" and name:
            self._select, self._options, self._multiple = name, [], "multiple" in a
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "textarea" and self._textarea is not None:
            # Browsers drop the one newline that may follow <textarea>.
            self.fields.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected]
            if not chosen and not self._multiple and self._options:
                chosen = [self._options[0][0]]
            self.fields += [(self._select, value) for value in chosen]
            self._select = None
        elif tag == "form":
            self.inside, self.done = False, True


def form_fields(html: str, form_id: str | None = None) -> list[tuple[str, str]]:
    """The (name, value) pairs the first form (or the form with ``id=form_id``) would submit."""
    parser = _FormParser(form_id)
    parser.feed(html)
    parser.close()
    return parser.fields


def csrf_token(html: str) -> str | None:
    found = CSRF_TOKEN.search(html)
    return found.group(1) if found else None
