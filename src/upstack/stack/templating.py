"""The template engine every target renders its text configs with, and the VCL ACL helper.

A standalone Django template engine over ``stack/templates/`` with no autoescaping (these are not HTML)
and no localisation (a "20,000" in a config is a bug). Pure: text in, text out.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.template import Context, Engine

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def engine() -> Engine:
    return Engine(dirs=[str(TEMPLATES)], autoescape=False, debug=False)


def template(name: str, variables: dict) -> str:
    # A plain str, not Django's SafeString.
    text = engine().get_template(name).render(Context(variables, autoescape=False, use_l10n=False, use_tz=False))
    return text + ""


def vcl_acl(networks) -> list[str]:
    """ACL entries for the VCL: ``"10.0.0.0"/8`` (the mask goes outside the quotes)."""
    entries = []
    for net in networks:
        address, _, mask = str(net).partition("/")
        entries.append(f'"{address}"/{mask}' if mask else f'"{address}"')
    return entries
