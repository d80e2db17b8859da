"""The read-your-own-writes cookie (``upstack_fresh``): signed, bound to the writer's session, short-lived.

After a request whose writes purge pages, the writer gets ``upstack_fresh=<expiry>.<mac>``: for a
few seconds the edge fetches that reader's pages afresh, even before the purge lands. Anyone could
send such a cookie, so the edge honours it only when the mac is right for the request's own session
cookie and the expiry is in the near future (at most the window ahead). A forged, replayed (another
session's) or expired cookie is ignored: an edge hit as usual.

The edge has no HMAC, so the mac is what the VCL can compute: ``directors.shard().key()``, the first
32 bits (little-endian, of the last four bytes) of SHA-256 over a string, twice with different
prefixes over ``secret|session|expiry`` - 64 bits, each guess costing the guesser a request. The
secret is ``UPSTACK["FRESH_SECRET"]``, which the edge reads from ``UPSTACK_FRESH_SECRET`` in its
environment. Pure functions; the page middleware sets the cookie.
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from .. import conf
from .contract import FRESH_COOKIE

COOKIE = FRESH_COOKIE
ENV = "UPSTACK_FRESH_SECRET"


def shard_key(text: str) -> int:
    """Varnish's ``directors.shard().key(text)`` (VRT_HashStrands32)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[-4:], "little")


def mac(secret: str, session: str, expiry: int) -> str:
    signed = f"{secret}|{session}|{expiry}"
    return f"{shard_key('1|' + signed)}-{shard_key('2|' + signed)}"


def token(secret: str, session: str, now: float, window: int) -> str:
    expiry = int(now) + int(window)
    return f"{expiry}.{mac(secret, session, expiry)}"


def valid(secret: str, value: str, session: str, now: float, window: int) -> bool:
    """What the VCL checks: right mac for this session, expiry ahead but at most ``window`` (+1 s)."""
    expiry, _, _ = value.partition(".")
    if not (secret and session and expiry.isdigit()):
        return False
    return int(now) < int(expiry) <= int(now) + window + 1 and value == f"{expiry}.{mac(secret, session, int(expiry))}"


def secret() -> str:
    """``UPSTACK["FRESH_SECRET"]``, or one derived from SECRET_KEY (then only Django can check it)."""
    return conf.get("FRESH_SECRET") or hashlib.sha256(f"upstack-fresh|{settings.SECRET_KEY}".encode()).hexdigest()
