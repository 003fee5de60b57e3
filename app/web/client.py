"""Who is calling: the client address, trusting X-Forwarded-For only as far as configured."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from app.telemetry import RequestContext
from app.web.keys import REQUEST_CONTEXT


def client_address(request: web.Request, trusted_hops: int) -> str:
    """The peer address; with N trusted proxies in front, the N-th address from the right of
    X-Forwarded-For (the one the outermost trusted proxy saw). The leftmost entries are written
    by the client and never trusted. A header too short or malformed falls back to the peer.

    Computed once per request (the rate limiter and the access line both ask): remembered in
    the request's context, so `trusted_hops` must be the application's one setting."""
    if trusted_hops == 0:
        return request.remote or "unknown"  # the socket's peer, already read once by aiohttp
    ctx: RequestContext | None = request.get(REQUEST_CONTEXT)
    if ctx is not None and ctx.client_ip is not None:
        return ctx.client_ip
    address = _forwarded_address(request, trusted_hops)
    if ctx is not None:
        ctx.client_ip = address
    return address


def _forwarded_address(request: web.Request, trusted_hops: int) -> str:
    peer = request.remote or "unknown"
    # Several header lines are one list (RFC 9110 5.3): a proxy that adds its own line after
    # the client's must not leave the client's line as the one we read.
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", ()))
    if not forwarded:
        return peer
    hops = [part.strip() for part in forwarded.split(",")]
    if len(hops) < trusted_hops:
        return peer
    candidate = hops[-trusted_hops]
    try:
        parsed = ipaddress.ip_address(candidate)
    except ValueError:
        return peer
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.scope_id is not None:
            # A zone (`fe80::1%eth0`) is any text after the `%`, and names an interface of
            # the proxy, not a client: nothing of it reaches the logs.
            return peer
        if parsed.ipv4_mapped is not None:
            # An IPv4 client as a dual-stack proxy writes it: the address the limiter counts.
            return str(parsed.ipv4_mapped)
    return str(parsed)


def limit_key(address: str) -> str:
    """What a per-address limit counts: the address, or for IPv6 its /64, since one host is
    routinely given a whole /64 and could otherwise spread a flood over 2**64 addresses."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
