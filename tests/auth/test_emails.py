"""One canonical email form everywhere, and a published pattern that means what the server does
(under ECMA-262, what OpenAPI clients use, and under Python)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata

import pytest

from app.domain.auth.emails import (
    EMAIL_PATTERN,
    REFUSED_BMP,
    InvalidEmail,
    _refused,
    canonical_email,
)
from app.web.app import create_app
from app.web.keys import OPERATIONS, STORE
from app.web.openapi import build_document
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings
from tests.test_errors import assert_envelope


def fullwidth(ascii_text: str) -> str:
    """The fullwidth forms (U+FF01...) of printable ASCII letters, which NFKC maps back."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in ascii_text)


NFC = unicodedata.normalize("NFC", "josé@example.org")
NFD = unicodedata.normalize("NFD", "josé@example.org")


# Beyond the BMP: an emoji, a CJK ideograph, an invisible tag letter, a private-use character.
ASTRAL = (0x1F600, 0x20000, 0xE0041, 0xF55D5)


def accepted_by_server(value: str) -> bool:
    try:
        canonical_email(value)
    except InvalidEmail:
        return False
    return True


def probes(char: str) -> list[str]:
    """The character inside the local part, inside a domain label, and as a whole label."""
    return [f"a{char}b@example.org", f"ab@exa{char}mple.org", f"ab@{char}.org"]


def characters() -> list[str]:
    """Every BMP character but surrogates (JSON cannot carry them alone), and a few beyond."""
    return [chr(cp) for cp in range(0x10000) if not 0xD800 <= cp <= 0xDFFF] + [
        chr(cp) for cp in ASTRAL]


# The canonical form


def test_canonical_forms():
    assert NFC != NFD and canonical_email(NFC) == canonical_email(NFD)
    assert canonical_email(fullwidth("JOSE@example") + ".org") == "jose@example.org"  # fullwidth
    assert canonical_email(" \tStraße@Example.ORG\r\n") == "strasse@example.org"


def test_canonical_form_is_stable():
    for char in characters():
        for value in probes(char):
            if accepted_by_server(value):
                assert canonical_email(canonical_email(value)) == canonical_email(value)


@pytest.mark.parametrize("value", [
    "a\u200bb@example.org", "a\u200db@example.org", "a\u00adb@example.org",
    "a\u202eb@example.org", "a\u0000b@example.org", "a@example.org.", "a\u0085b@example.org",
    "a\ufe6bb@example.org",  # a small "@" that normalizes into a second one
    "a@example\u2024org.",  # a dot leader: a dot the reader does not see as one
    "a\U000e0041b@example.org",  # a tag character (invisible)
    "a\U0001f600b@example.org",  # beyond U+FFFF: not what the pattern can say the same way
])
def test_refused(value):
    with pytest.raises(InvalidEmail) as refused:
        canonical_email(value)
    assert value.strip() not in str(refused.value)


# The published pattern


def test_the_pattern_names_exactly_the_refused_bmp_characters():
    # Derived again from Unicode data: a Python upgrade with new characters fails here.
    listed = {cp for low, high in REFUSED_BMP for cp in range(low, high + 1)}
    for cp in range(0x10000):
        assert (cp in listed) == _refused(chr(cp)), f"U+{cp:04X}"


def test_pattern_and_server_agree_under_python_regex():
    pattern = re.compile(EMAIL_PATTERN)
    for char in characters():
        for value in probes(char):
            assert bool(pattern.search(value)) == accepted_by_server(value), repr(value)


def test_the_document_publishes_the_pattern():
    schemas = build_document(create_app(make_settings())[OPERATIONS])["components"]["schemas"]
    for body in ("RegisterBody", "LoginBody"):
        email = schemas[body]["properties"]["email"]
        assert email["pattern"] == EMAIL_PATTERN and email["maxLength"] == 254


_NODE = f"const ASTRAL = {list(ASTRAL)};" + """
const [pattern, flags] = JSON.parse(process.argv[1]);
const re = new RegExp(pattern, flags);
const out = [];
const points = [];
for (let cp = 0; cp < 0x10000; cp++) if (cp < 0xD800 || cp > 0xDFFF) points.push(cp);
for (const cp of ASTRAL) {
  points.push(cp);
}
for (const cp of points) {
  const c = String.fromCodePoint(cp);
  out.push([`a${c}b@example.org`, `ab@exa${c}mple.org`, `ab@${c}.org`]
    .map((s) => (re.test(s) ? "1" : "0")).join(""));
}
process.stdout.write(out.join(","));
"""


@pytest.mark.parametrize("flags", ["", "u"])
def test_pattern_and_server_agree_under_ecma_262(flags):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (an ECMA-262 regex engine) is not installed")
    result = subprocess.run([node, "-e", _NODE, json.dumps([EMAIL_PATTERN, flags])],
                            capture_output=True, text=True, timeout=60, check=True)
    verdicts = result.stdout.split(",")
    for char, verdict in zip(characters(), verdicts, strict=True):
        expected = "".join("1" if accepted_by_server(v) else "0" for v in probes(char))
        assert verdict == expected, f"U+{ord(char):04X}"
    # The case that started it: U+0085 is not \\s to ECMA-262 but is to Python.
    assert verdicts[0x85][0] == "0"


# Through the API


async def test_nfc_and_nfd_are_one_account(api):
    await api.register(NFC)
    response = await api.post("/auth/register", json={"email": NFD, "password": PASSWORD})
    await assert_envelope(response, 409, "conflict")


async def test_an_email_whose_canonical_form_is_longer_is_accepted_as_published(api):
    # 245 characters as typed (the document's bound is 254); four times longer once normalized.
    email = "\u3300" * 240 + "@b.co"
    session = await api.register(email)
    login = await api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status == 200 and session.access


async def test_fullwidth_letters_are_the_same_account(api):
    session = await api.register("fullwidth@example.org")
    login = await api.post("/auth/login", json={"email": fullwidth("fullwidth") + "@example.org",
                                                "password": PASSWORD})
    assert login.status == 200
    me = await api.me((await login.json())["data"]["accessToken"])
    assert (await me.json())["data"]["email"] == session.email
    again = await api.post("/auth/register", json={"email": fullwidth("FULLWIDTH") + "@example.org",
                                                   "password": PASSWORD})
    await assert_envelope(again, 409, "conflict")


@pytest.mark.parametrize("email", [
    "zw\u200bsp@example.org", "zw\u200dj@example.org", "soft\u00adhyphen@example.org",
    "bidi\u202e@example.org", "nul\u0000@example.org", "trailing@example.org.",
    "nel\u0085@example.org",
])
@pytest.mark.parametrize("route", ["/auth/register", "/auth/login"])
async def test_invisible_characters_are_refused(api, route, email):
    response = await api.post(route, json={"email": email, "password": PASSWORD})
    body = await assert_envelope(response, 400, "validation.failed")
    assert [detail["field"] for detail in body["error"]["details"]] == ["email"]
    text = json.dumps(body, ensure_ascii=False)
    assert email not in text and email.split("@")[0] not in text  # never echoed


async def test_bootstrap_admin_email_with_capitals_logs_in_with_any_case(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(
        BOOTSTRAP_ADMIN_EMAIL="Root.Admin@Example.ORG", BOOTSTRAP_ADMIN_PASSWORD=PASSWORD)))
    assert (await client.app[STORE].get_user_by_email("root.admin@example.org")) is not None
    for email in ("root.admin@example.org", "ROOT.ADMIN@EXAMPLE.ORG", "Root.Admin@Example.ORG"):
        login = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status == 200, email
