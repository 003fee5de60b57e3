"""Refresh rotation, reuse detection, logout, and the concurrent-refresh race."""

import asyncio

import pytest

from tests.test_errors import assert_envelope


async def test_refresh_rotates_the_pair(api):
    session = await api.register()
    response = await api.refresh(session.refresh)
    assert response.status == 200
    data = (await response.json())["data"]
    assert data["refreshToken"] != session.refresh
    assert (await api.me(data["accessToken"])).status == 200
    # The rotated token keeps working, once.
    assert (await api.refresh(data["refreshToken"])).status == 200


async def test_reuse_revokes_the_whole_family(api, logs):
    session = await api.register()
    first = await api.refresh(session.refresh)
    newest = (await first.json())["data"]["refreshToken"]

    reused = await api.refresh(session.refresh)  # the old one, again
    await assert_envelope(reused, 401, "auth.refresh.reused")
    # The newest token of the family is dead too.
    await assert_envelope(await api.refresh(newest), 401, "auth.refresh.reused")

    (event, *_) = logs.find("auth.refresh.reused")
    assert event["level"] == "error"
    assert event["userId"] and event["familyId"]


async def test_other_families_survive_a_reuse(api):
    session = await api.register()
    other = await api.post("/auth/login", json={"email": session.email,
                                                "password": session.password})
    other_refresh = (await other.json())["data"]["refreshToken"]
    await api.refresh(session.refresh)
    await api.refresh(session.refresh)  # reuse in the first family
    assert (await api.refresh(other_refresh)).status == 200


async def test_logout_revokes_the_family(api):
    session = await api.register()
    rotated = (await (await api.refresh(session.refresh)).json())["data"]["refreshToken"]
    response = await api.post("/auth/logout", json={"refreshToken": rotated})
    assert response.status == 204
    await assert_envelope(await api.refresh(rotated), 401, "auth.refresh.reused")


async def test_logout_with_garbage_is_401(api):
    response = await api.post("/auth/logout", json={"refreshToken": "not.a.jwt"})
    await assert_envelope(response, 401, "auth.unauthorized")


async def test_refresh_token_with_unknown_jti_is_401(api, auth_settings):
    import jwt

    from tests.auth.test_hostile_tokens import claims

    forged = jwt.encode(claims("refresh", fam="01H0000000000000000000000A"),
                        auth_settings.jwt_refresh.current.reveal(), algorithm="HS256")
    await assert_envelope(await api.refresh(forged), 401, "auth.unauthorized")


@pytest.mark.parametrize("round_", range(25))
async def test_concurrent_refresh_yields_one_success_and_one_reuse(api, round_):
    session = await api.register()
    first, second = await asyncio.gather(api.refresh(session.refresh), api.refresh(session.refresh))
    statuses = sorted([first.status, second.status])
    assert statuses == [200, 401]
    loser = first if first.status == 401 else second
    assert (await loser.json())["error"]["code"] == "auth.refresh.reused"
