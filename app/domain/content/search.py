"""Title search: a literal, case-insensitive substring, folded as the database folds it.

MongoDB (PCRE) and FerretDB (Go's regexp) match a `$regex` with `i` by Unicode simple case
folding (CaseFolding.txt status C and S): `ſ` is `s`, `K` (Kelvin) is `k`, `ẞ` is `ß`, while `ß`
is not `ss`, `İ` and `ı` are themselves only, and `ﬅ` is not `ﬆ`. Python's `re.IGNORECASE` adds
equivalences of its own (i/ı/İ, ﬅ/ﬆ), so it cannot stand in for the database; `fold` can:
`fold(text) in fold(title)` is the database's answer.
"""
# ruff: noqa: RUF002  (the docstring names look-alike characters on purpose)

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    # Python has no simple folding; derive it. casefold() is full folding (C + F): one character
    # means a C entry. More means an F entry, whose S entry (if any) is the lowercase (ẞ→ß,
    # ᾼ→ᾳ); a lowercase of more than one character (İ) means no simple folding at all.
    folded = char.casefold()
    if len(folded) == 1:
        return folded
    lowered = char.lower()
    return lowered if len(lowered) == 1 else char


def fold(text: str) -> str:
    """`text` with each character simply case folded: the same length, position for position."""
    if text.isascii():
        return text.lower()  # ASCII folds to ASCII lowercase, and this is the common case
    return "".join(map(_fold_char, text))
