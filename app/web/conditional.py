"""Conditional GET: strong ETags compared the way If-None-Match asks (weak comparison, lists,
and `*`), answering 304 with the validators and no body."""

from __future__ import annotations

from typing import NamedTuple

from aiohttp import web
from multidict import CIMultiDict, istr

from app.web.envelope import JSON, request_id

_ETAG = istr("ETag")
_CACHE_CONTROL = istr("Cache-Control")
_CONTENT_TYPE = istr("Content-Type")
_IF_NONE_MATCH = istr("If-None-Match")
_END = b'"}}'


class _Prepared(NamedTuple):
    """What a document's answers share, built once per version: `web.Response` copies the
    headers (one C copy; setting three by name costs more), and the body is one join of the
    prefix (the envelope up to the request id, the document included), the id and the end."""

    data: bytes
    headers: CIMultiDict[str]  # the 200's
    validators: CIMultiDict[str]  # the 304's
    prefix: bytes


# (etag, cache control) -> the document's answers. Bounded: versions come and go.
_prepared: dict[tuple[str, str], _Prepared] = {}
_PREPARED_MAX = 64


def matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    opaque = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == opaque:
            return True
    return False


def _prepare(data: bytes, etag: str, cache_control: str) -> _Prepared:
    key = (etag, cache_control)
    prepared = _prepared.get(key)
    if prepared is None or prepared.data is not data:
        if len(_prepared) >= _PREPARED_MAX:
            _prepared.clear()
        validators = CIMultiDict([(_ETAG, etag), (_CACHE_CONTROL, cache_control)])
        headers = validators.copy()
        headers[_CONTENT_TYPE] = JSON
        prepared = _prepared[key] = _Prepared(
            data, headers, validators, b'{"data":' + data + b',"meta":{"requestId":"')
    return prepared


def cached_json(
    request: web.Request, data: bytes, etag: str, cache_control: str
) -> web.Response:
    """The envelope around ready-made `data` bytes, or 304 when the client has this version.
    The request id holds only [A-Za-z0-9._:-] (checked on the way in): no escaping needed."""
    prepared = _prepare(data, etag, cache_control)
    if_none_match = request.headers.get(_IF_NONE_MATCH)
    if if_none_match is not None and matches(if_none_match, etag):
        return web.Response(status=304, headers=prepared.validators)
    return web.Response(
        body=b"".join((prepared.prefix, request_id(request).encode(), _END)),
        headers=prepared.headers)
