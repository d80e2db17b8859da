"""Template context from upstack: the named fragment lifetimes as ``ttl``."""

from . import conf


def upstack(request):
    return {"ttl": dict(conf.get("TTLS"))}
