"""Everything logged during every auth flow, at debug level and on both stores, is free of the
passwords, tokens and hashes involved."""

import re

from tests.auth.conftest import PASSWORD


async def test_no_password_token_or_hash_reaches_the_logs(logs, api):
    secrets: list[str] = [PASSWORD]
    session = await api.register("secret@example.org")
    secrets += [session.access, session.refresh]

    wrong_password = "definitely-wrong-password-123"
    secrets.append(wrong_password)
    await api.post("/auth/login", json={"email": session.email, "password": wrong_password})
    await api.post("/auth/login", json={"email": "ghost@example.org", "password": PASSWORD})
    login = await api.post("/auth/login", json={"email": session.email, "password": PASSWORD})
    tokens = (await login.json())["data"]
    secrets += [tokens["accessToken"], tokens["refreshToken"]]

    rotated = (await (await api.refresh(session.refresh)).json())["data"]
    secrets += [rotated["accessToken"], rotated["refreshToken"]]
    await api.refresh(session.refresh)  # reuse: logged at error, without the token
    await api.me(tokens["accessToken"])
    await api.get("/me", headers={"Authorization": "Bearer " + tokens["refreshToken"]})
    await api.post("/auth/logout", json={"refreshToken": tokens["refreshToken"]})

    short_password = "tooShort1"
    secrets.append(short_password)
    await api.post("/auth/register", json={"email": "x@y.io", "password": short_password})
    malformed = '{"email": "x@y.io", "password": "malformed-json-secret-99"'
    secrets.append("malformed-json-secret-99")
    await api.post("/auth/login", data=malformed, headers={"Content-Type": "application/json"})

    text = logs.text
    assert "auth.refresh.reused" in text and "request.completed" in text  # we did capture
    for secret in secrets:
        assert secret not in text
        for part in secret.split("."):  # no JWT segment, not even the signature alone
            if len(part) > 20:
                assert part not in text
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}", text)  # no JWT-looking string at all
    assert "$argon2" not in text
    assert "password" not in {key.lower() for line in logs.lines() for key in line}
