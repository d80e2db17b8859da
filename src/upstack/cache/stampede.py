"""Pure stampede-protection policy: TTL jitter and XFetch early recomputation.

XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention",
VLDB 2015): a reader recomputes a still-valid value early with a probability that grows as expiry
nears and with how long the value took to compute::

    recompute if  now - delta * beta * ln(rand()) >= expiry

``delta`` is the measured compute time, ``beta`` >= 0 tunes eagerness (1 is the paper's optimum;
0 disables early recomputation). No I/O, no clock, no randomness of its own: callers pass them in.
"""

from __future__ import annotations

import math


def jittered(ttl: float, jitter: float, rand: float) -> float:
    """``ttl`` spread by +/- ``jitter`` (a fraction) using ``rand`` in [0, 1)."""
    if ttl <= 0:
        return ttl
    if not 0 <= jitter < 1:
        raise ValueError("jitter must be a fraction in [0, 1)")
    return ttl * (1 + jitter * (2 * rand - 1))


def should_recompute_early(now: float, expiry: float, delta: float, beta: float, rand: float) -> bool:
    """XFetch's decision for a value that expires at ``expiry`` and took ``delta`` seconds to compute."""
    if now >= expiry:
        return True
    if beta <= 0 or delta <= 0:
        return False
    rand = min(max(rand, 1e-12), 1.0)
    return now - delta * beta * math.log(rand) >= expiry
