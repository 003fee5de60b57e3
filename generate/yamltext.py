"""A small YAML writer for the generated files: block style, two-space lists under their key,
`|` blocks for multi-line strings, comments and blank lines where a reader wants them, and the
quoting style each file has always used. Every text is checked to load back to the data it was
written from, so a formatting choice can never change a rule."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Quoted:
    """A string always written quoted: `"` (JSON escapes) or `'` (promtool's series style)."""

    text: str
    style: str = '"'


@dataclass(frozen=True)
class Flow:
    """A mapping or list written on one line: `{severity: page, job: orders-api}`,
    `["api:8080"]`."""

    items: dict[str, str] | list[str]


@dataclass(frozen=True)
class Commented:
    """A list item (or mapping value) preceded by comment lines and, optionally, a blank line."""

    value: Any
    comment: str = ""
    blank: bool = False


def plain(value: Any) -> Any:
    """The data a written value stands for, wrappers removed."""
    if isinstance(value, Quoted):
        return value.text
    if isinstance(value, Flow):
        return dict(value.items) if isinstance(value.items, dict) else list(value.items)
    if isinstance(value, Commented):
        return plain(value.value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def dump(data: Any, header: str = "") -> str:
    """`header` (lines without `#`) as a comment block, then `data` (a mapping)."""
    out = [f"# {line}".rstrip() for line in _wrap(header, 0)]
    _mapping(data, 0, out)
    text = "\n".join(out) + "\n"
    loaded = yaml.safe_load(text)
    if loaded != plain(data):  # a bug of this module, never of the caller's data
        raise AssertionError(f"the YAML written does not load back to its data:\n{text}")
    return text


def _plain_ok(text: str) -> bool:
    if not text or text != text.strip() or "\n" in text:
        return False
    if text[0] in "!&*{}[]|>'\"%@`#,?:-" or ": " in text or " #" in text or text.endswith(":"):
        return False
    try:
        return yaml.safe_load(f"k: {text}") == {"k": text}
    except yaml.YAMLError:
        return False


def _scalar(value: Any) -> str:
    if isinstance(value, Quoted):
        if value.style == "'":
            return "'" + value.text.replace("'", "''") + "'"
        return json.dumps(value.text, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Flow) and isinstance(value.items, list):
        return "[" + ", ".join(json.dumps(item, ensure_ascii=False) for item in value.items) + "]"
    if isinstance(value, Flow):
        parts = []
        for key, item in value.items.items():
            safe = _plain_ok(item) and not any(c in item for c in ",{}[]: ")
            parts.append(f"{key}: {item if safe else json.dumps(item, ensure_ascii=False)}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, str):
        return value if _plain_ok(value) else json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {value!r}")


def _comment(item: Commented, indent: int, out: list[str]) -> None:
    if item.blank:
        out.append("")
    out.extend(f"{' ' * indent}# {line}".rstrip() for line in _wrap(item.comment, indent))


def _wrap(text: str, indent: int) -> list[str]:
    """Comment lines of at most 100 characters; a line's own indentation carries over."""
    lines = []
    for line in text.splitlines():
        lead = line[: len(line) - len(line.lstrip())]
        lines += textwrap.wrap(line, width=max(40, 98 - indent),
                               subsequent_indent=lead + "  " if lead else "",
                               break_long_words=False, break_on_hyphens=False) or [""]
    return lines


def _entry(prefix: str, key: str, value: Any, indent: int, out: list[str]) -> None:
    """`key: value` on a line that starts with `prefix`; nested blocks at `indent` + 2."""
    if isinstance(value, dict) and value:
        out.append(f"{prefix}{key}:")
        _mapping(value, indent + 2, out)
    elif isinstance(value, list) and value:
        out.append(f"{prefix}{key}:")
        _sequence(value, indent + 2, out)
    elif isinstance(value, list | dict):
        out.append(f"{prefix}{key}: {'[]' if isinstance(value, list) else '{}'}")
    elif isinstance(value, str) and "\n" in value:
        body = value[:-1] if value.endswith("\n") else value
        lines = body.split("\n")
        if (value.endswith("\n\n") or body[:1] in ("", " ") or "\t" in value
                or any(line != line.rstrip() for line in lines)):
            out.append(f"{prefix}{key}: {json.dumps(value, ensure_ascii=False)}")
            return
        out.append(f"{prefix}{key}: {'|' if value.endswith(chr(10)) else '|-'}")
        out.extend(f"{' ' * (indent + 2)}{line}".rstrip() for line in lines)
    else:
        out.append(f"{prefix}{key}: {_scalar(value)}")


def _mapping(data: dict[str, Any], indent: int, out: list[str], first: str | None = None) -> None:
    for index, (key, value) in enumerate(data.items()):
        if isinstance(value, Commented):
            if index or first is None:
                _comment(value, indent, out)
            value = value.value
        prefix = first if index == 0 and first is not None else " " * indent
        _entry(prefix, key, value, indent, out)


def _sequence(items: list[Any], indent: int, out: list[str]) -> None:
    for item in items:
        if isinstance(item, Commented):
            _comment(item, indent, out)
            item = item.value
        if isinstance(item, dict) and item:
            _mapping(item, indent + 2, out, first=" " * indent + "- ")
        elif isinstance(item, list):
            raise TypeError("nested lists are not written by this module")
        else:
            out.append(f"{' ' * indent}- {_scalar(item)}")
