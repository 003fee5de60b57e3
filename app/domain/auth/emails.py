"""One canonical form for an email address, used wherever an email enters: register, login, the
bootstrap admin, the operator CLI. Two addresses a person cannot tell apart must not be two
accounts, so the form is Unicode NFKC (fullwidth letters, composed accents), case-folded and
trimmed, and addresses holding invisible or direction-changing characters are refused.
"""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 254
# Control, format (zero-width, bidi, soft hyphen), separators other than the space, private
# use, surrogates and unassigned code points: none belongs in an address a person types.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"})
# After the checks above: one @, no spaces, a dot inside the domain, no empty labels.
_SHAPE = re.compile(r"[^@]+@[^@.]+(\.[^@.]+)+")


class InvalidEmail(ValueError):
    """The reason is safe to show: it never repeats the address."""


def canonical_email(value: str) -> str:
    """The canonical form of `value`, or InvalidEmail naming what is wrong."""
    text = unicodedata.normalize("NFKC", value.strip()).casefold()
    # NFKC again: case folding can produce sequences that are not in normal form.
    text = unicodedata.normalize("NFKC", text)
    if not text:
        raise InvalidEmail("must not be empty")
    if len(text) > MAX_LENGTH:
        raise InvalidEmail(f"must be at most {MAX_LENGTH} characters")
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in text):
        raise InvalidEmail("must not contain spaces, control, invisible or direction characters")
    if not _SHAPE.fullmatch(text):
        raise InvalidEmail("must look like name@example.org")
    return text
