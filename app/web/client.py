"""Who is calling: the client address, trusting X-Forwarded-For only as far as configured."""

from __future__ import annotations

import ipaddress

from aiohttp import web


def client_address(request: web.Request, trusted_hops: int) -> str:
    """The peer address; with N trusted proxies in front, the N-th address from the right of
    X-Forwarded-For (the one the outermost trusted proxy saw). The leftmost entries are written
    by the client and never trusted. A header too short or malformed falls back to the peer."""
    peer = request.remote or "unknown"
    if trusted_hops == 0:
        return peer
    forwarded = request.headers.get("X-Forwarded-For")
    if not forwarded:
        return peer
    hops = [part.strip() for part in forwarded.split(",")]
    if len(hops) < trusted_hops:
        return peer
    candidate = hops[-trusted_hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
