"""The newsroom's refresh-ahead payloads (upstack.cache.refresh): computed in the background, read
by many. Public data only: nothing per user goes in here."""

from upstack.cache.refresh import refresh_ahead

from . import queries


@refresh_ahead("most-read", every=10, serve_for=300)
def most_read():
    """The "most read" box and /api/most-read.json: refreshed every 10 s, served up to 5 minutes."""
    return queries.most_read_payload()
