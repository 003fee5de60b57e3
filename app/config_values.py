"""Checks of values that take more than a type and a range: HOST, MONGO_URI, secrets, the
OpenTelemetry `key=value,...` lists.

Pure functions of the value, apart from `app.config` so that it stays a readable list of
settings: `app.config` reads each variable and records the problem these return (None: fine).
A problem never repeats a credential from the value.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, unquote_plus

from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri, split_options

MIN_SECRET_BYTES = 32
# Substrings that mark a value copied from `.env.example` or a tutorial rather than generated.
_PLACEHOLDER_MARKERS = (
    "change-me", "changeme", "placeholder", "example", "your-", "xxxx", "secret",
)
# One DNS label: letters, digits and inner hyphens, up to 63 characters.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def host_problem(host: str) -> str | None:
    """What is wrong with `host` as an address to listen on: an IP address or a host name."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    # An all-digit last label is a malformed address (999.1.1.1), never a name (RFC 3696 2).
    if (len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)
            and not labels[-1].isdigit()):
        return None
    return f"must be an IP address or a host name, got {host!r}"


def mongo_uri_problem(uri: str) -> str | None:
    """What the driver finds wrong with `uri`, checked now rather than at the first query."""
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        return "must start with mongodb:// or mongodb+srv://"
    try:
        if uri.startswith("mongodb+srv://"):
            # parse_uri would look the SRV record up in DNS: check the shape offline instead.
            head, _, query = uri.removeprefix("mongodb+srv://").partition("?")
            nodes = parse_uri("mongodb://" + head, default_port=None)["nodelist"]
            if query:
                split_options(query)
            if len(nodes) != 1 or nodes[0][1] is not None:
                return "a mongodb+srv:// URI names exactly one host and no port"
        else:
            parse_uri(uri)
    except (PyMongoError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # The driver names the problem, not the value; should it ever quote a credential
        # from the URI, say less rather than print it.
        if any(fragment in message for fragment in _credential_fragments(uri)):
            return "is not a valid MongoDB connection string"
        return message
    return None


def _credential_fragments(uri: str) -> set[str]:
    """The parts of `uri` that may be credentials: user name, password, option values."""
    head, _, query = uri.partition("://")[2].partition("?")
    userinfo = head.rpartition("@")[0]  # all of it, even an unescaped "/" in a password
    fragments = {part for part in re.split(r"[:@/]", userinfo) if part}
    for option in re.split(r"[&;]", query):
        value = option.partition("=")[2]
        fragments.update(part for part in re.split(r"[:,]", value) if part)
    fragments |= {unquote_plus(fragment) for fragment in fragments}
    # Shorter ones match ordinary words of any message ("u" in "must").
    return {fragment for fragment in fragments if len(fragment) >= 4}


def production_secret_problem(secret: str) -> str | None:
    """What makes `secret` unfit to sign tokens in production: too short, or not generated."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"must be at least {MIN_SECRET_BYTES} bytes in production"
    if _looks_like_placeholder(secret):
        return "looks like a placeholder; generate a random secret"
    return None


def _looks_like_placeholder(value: str) -> bool:
    lowered = value.lower()
    return any(marker in lowered for marker in _PLACEHOLDER_MARKERS) or len(set(value)) < 8


def key_value_list(text: str) -> list[tuple[str, str]] | None:
    """`k1=v1,k2=v2` as OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS write it (values
    percent-encoded); None when an entry is not `key=value`."""
    pairs = []
    for entry in text.split(","):
        if not entry.strip():
            continue
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            return None
        pairs.append((key.strip(), unquote(value.strip())))
    return pairs
