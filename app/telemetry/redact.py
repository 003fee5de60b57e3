"""Credentials never leave the process in telemetry: text that looks like a token, a bearer or
basic credential, a password hash or a `password=...` pair is replaced, wherever it turns up
(exception messages included)."""

from __future__ import annotations

import re
from typing import Any

FILTERED = "[Filtered]"
SECRET_KEYS = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[-_]?key|hash|credential|email", re.I
)
_SECRET_TEXT = (
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), FILTERED),  # JWTs
    # and what is left of one cut short (a header value truncated for a log line)
    (re.compile(r"(?<![A-Za-z0-9])eyJ[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)?"), FILTERED),
    (re.compile(r"(?i)bearer\s+\S+"), FILTERED),
    # HTTP basic credentials: base64 of user:password
    (re.compile(r"(?i)\bbasic\s+[A-Za-z0-9+/=]{8,}"), FILTERED),
    (re.compile(r"\$argon2[a-z]*\$\S+"), FILTERED),  # password hashes
    # JSON and form shapes, closed or cut short: "password": "…", 'token': '…', password=…
    (re.compile(r"""(?ix) ["']? \b [\w-]* (pass(word)?|secret|token|authorization) [\w-]* ["']?
                    \s* [=:] \s* ("(\\.|[^"\\])*"?|'[^']*'?|[^\s,}&]+)"""), FILTERED),
    # user:password@ in a URI (a MONGO_URI in a driver's message)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]*@"), r"\1" + FILTERED + "@"),
)


def redact_text(text: str) -> str:
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str = "") -> Any:
    """Replace credential-looking fields and substrings, recursively."""
    if key and SECRET_KEYS.search(key):
        return FILTERED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


# What telemetry keeps of a User-Agent header (the access line, the server span): enough to
# tell clients apart, bounded whatever a client sends.
USER_AGENT_MAX = 200
# Every pattern above needs one of these (in lower case): text without them has nothing to
# redact. Substring tests, not a case-insensitive regex: a tenth of the cost. Kept in step with
# _SECRET_TEXT by hand (tests/test_logging.py checks a mark in what each pattern matches).
_SECRET_MARKS = ("eyj", "bearer", "basic", "pass", "secret", "token", "authorization",
                 "$argon2", "://")
# A URI the cut ends inside its user:password, before the `@` that _SECRET_TEXT's URI pattern
# needs: at the end of a cut text, `scheme://user:` and what follows is taken for a credential.
_CUT_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]*:[^\s@]*\Z")


def user_agent_text(value: str) -> str:
    """A User-Agent as telemetry carries it: its first 200 characters, anything shaped like a
    credential replaced (a token or a URI's password the cut left part of too), and bytes that
    were not UTF-8 (lone surrogates) as their escape text, so every encoder takes it."""
    text = value[:USER_AGENT_MAX]
    # Cut, or as long as the cut (the access line cuts before it asks).
    cut = len(text) == USER_AGENT_MAX
    lower = text.lower()
    if any(mark in lower for mark in _SECRET_MARKS):  # most agents hold none
        text = redact_text(text)
        if cut and "://" in lower:
            text = _CUT_USERINFO.sub(r"\1" + FILTERED, text)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
