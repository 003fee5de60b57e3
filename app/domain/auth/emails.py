"""One canonical form for an email address, used wherever an email enters: register, login, the
bootstrap admin, the operator CLI. Two addresses a person cannot tell apart must not be two
accounts, so the form is Unicode NFKC (fullwidth letters, composed accents), case-folded and
trimmed, and addresses holding invisible or direction-changing characters are refused.

`EMAIL_PATTERN` is the same rule for clients (published in the OpenAPI document). It lists the
characters it allows instead of using `\\s`, `.` or a negated class, whose meaning differs
between ECMA-262 (what OpenAPI means, with or without its `u` flag) and Python; a class of BMP
characters only is read the same by all three, and matches nothing beyond U+FFFF (a surrogate
pair without `u`, one code point with it or in Python). So the rule refuses those characters too
(emoji, rare CJK ideographs, invisible tag characters): such addresses are rare, and a pattern
that clients can trust is worth more.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MAX_LENGTH = 254
TRIMMED = "\t\n\r "  # around the address, as pasted; the pattern allows exactly these
# Control, format (zero-width, bidi, soft hyphen), separators (spaces), private use and
# surrogates: none belongs in an address a person types.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp", "Zs"})
LAST_ALLOWED = 0xFFFF

# Every BMP character `_refused` is true for (a test derives them again from Unicode data): the
# refused categories, and characters whose compatibility form holds one of them or an "@" or
# "." they do not show (U+FF20 FULLWIDTH COMMERCIAL AT, U+2024 ONE DOT LEADER; U+00A8 DIAERESIS
# becomes a space and a diaeresis), or a character beyond U+FFFF (seven CJK compatibility
# ideographs). Surrogates are listed too: they are halves of what lies beyond U+FFFF.
REFUSED_BMP = (
    (0x0000, 0x0020), (0x007F, 0x00A0), (0x00A8, 0x00A8), (0x00AD, 0x00AD), (0x00AF, 0x00AF),
    (0x00B4, 0x00B4), (0x00B8, 0x00B8), (0x02D8, 0x02DD), (0x037A, 0x037A), (0x0384, 0x0385),
    (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x1680, 0x1680), (0x180E, 0x180E), (0x1FBD, 0x1FBD), (0x1FBF, 0x1FC1),
    (0x1FCD, 0x1FCF), (0x1FDD, 0x1FDF), (0x1FED, 0x1FEE), (0x1FFD, 0x1FFE), (0x2000, 0x200F),
    (0x2017, 0x2017), (0x2024, 0x2026), (0x2028, 0x202F), (0x203E, 0x203E), (0x205F, 0x2064),
    (0x2066, 0x206F), (0x2488, 0x249B), (0x3000, 0x3000), (0x309B, 0x309C), (0x33C2, 0x33C2),
    (0x33C7, 0x33C7), (0x33D8, 0x33D8), (0xD800, 0xDFFF), (0xE000, 0xF8FF), (0xFA6C, 0xFA6C),
    (0xFACF, 0xFAD1), (0xFAD5, 0xFAD7), (0xFC5E, 0xFC63),
    (0xFDFA, 0xFDFB), (0xFE19, 0xFE19), (0xFE30, 0xFE30), (0xFE49, 0xFE4C), (0xFE52, 0xFE52),
    (0xFE6B, 0xFE6B), (0xFE70, 0xFE70), (0xFE72, 0xFE72), (0xFE74, 0xFE74), (0xFE76, 0xFE76),
    (0xFE78, 0xFE78), (0xFE7A, 0xFE7A), (0xFE7C, 0xFE7C), (0xFE7E, 0xFE7E), (0xFEFF, 0xFEFF),
    (0xFF0E, 0xFF0E), (0xFF20, 0xFF20), (0xFFE3, 0xFFE3), (0xFFF9, 0xFFFB),
)


def _allowed_class(*also_refused: str) -> str:
    """A positive class of the BMP characters not refused (nor in `also_refused`)."""
    refused = sorted([*REFUSED_BMP, *((ord(c), ord(c)) for c in also_refused)])
    parts, start = [], 0
    for low, high in refused:
        if low > start:
            parts.append(f"\\u{start:04x}" if low - 1 == start
                         else f"\\u{start:04x}-\\u{low - 1:04x}")
        start = max(start, high + 1)
    if start <= LAST_ALLOWED:
        parts.append(f"\\u{start:04x}-\\u{LAST_ALLOWED:04x}")
    return "[" + "".join(parts) + "]"


_LOCAL = _allowed_class("@") + "+"
_LABEL = _allowed_class("@", ".") + "+"
# One @, a dot inside the domain, no empty domain label (so no trailing dot).
EMAIL_PATTERN = rf"^[\t\n\r ]*{_LOCAL}@{_LABEL}(?:\.{_LABEL})+[\t\n\r ]*$"
_SHAPE = re.compile(r"[^@]+@[^@.]+(?:\.[^@.]+)+")


class InvalidEmail(ValueError):
    """The reason is safe to show: it never repeats the address."""


def canonical_email(value: str) -> str:
    """The canonical form of `value`, or InvalidEmail naming what is wrong. Idempotent: the
    length bound is on what was typed, so the canonical form (which can be longer: U+3300 is
    four letters) passes again unchanged."""
    text = value.strip(TRIMMED)
    if len(text) > MAX_LENGTH and _fold(text) != text:
        raise InvalidEmail(f"must be at most {MAX_LENGTH} characters")
    if not text:
        raise InvalidEmail("must not be empty")
    if any(ord(char) > LAST_ALLOWED for char in text):
        raise InvalidEmail("must not contain emoji or other characters beyond U+FFFF")
    if any(_refused(char) for char in text):
        raise InvalidEmail("must not contain spaces, control, invisible or direction characters")
    if not _SHAPE.fullmatch(text):
        raise InvalidEmail("must look like name@example.org")
    return _fold(text)


def _fold(text: str) -> str:
    # NFKC again after case folding, which can produce sequences that are not in normal form.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


@functools.lru_cache(maxsize=4096)
def _refused(char: str) -> bool:
    """Refused on its own, or once normalized: checking each character's forms keeps the rule
    per character (so a pattern can state it) and keeps "@" and "." where the reader sees them."""
    if char in "@.":
        return False
    compatible = unicodedata.normalize("NFKC", char)
    folded = unicodedata.normalize("NFKC", compatible.casefold())
    return any(
        unicodedata.category(part) in REFUSED_CATEGORIES or part in "@." or ord(part) > LAST_ALLOWED
        for part in char + compatible + folded
    )
