"""Who is calling: the client's address behind internal proxies, and whether it is an insider
(``UPSTACK["INTERNAL_IPS"]``). Used by the request metrics, Server-Timing and ``/metrics``; needs no
metrics extra."""

from __future__ import annotations

import ipaddress

from .. import conf


def client_ip(request) -> str:
    """The caller's address. Behind internal proxies (the edge, the load balancer) it is the last
    address in X-Forwarded-For that is not internal - earlier entries are the client's own say."""
    address = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded or not is_internal(address):
        return address
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not is_internal(hop):
            return hop
        address = hop
    return address


def is_internal(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in conf.get("INTERNAL_IPS"))
