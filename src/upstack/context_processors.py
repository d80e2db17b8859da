"""Template context from upstack: the named fragment lifetimes as ``ttl`` (BLUEPRINT C4)."""

from . import conf


def upstack(request):
    return {"ttl": dict(conf.get("TTLS"))}
