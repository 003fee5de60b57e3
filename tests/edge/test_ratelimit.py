"""Rate limits through the HTTP stack: scopes, headers, honesty, proxies, and the logs."""

import asyncio

from multidict import CIMultiDict

from tests.auth.conftest import PASSWORD
from tests.test_errors import assert_envelope


async def test_anonymous_limit_per_address_with_headers(make_client):
    client = await make_client(RATE_LIMIT_ANON_PER_MINUTE="3")
    remaining = []
    for _ in range(3):
        response = await client.get("/content")
        assert response.status == 200
        assert response.headers["RateLimit-Limit"] == "3"
        remaining.append(int(response.headers["RateLimit-Remaining"]))
        assert int(response.headers["RateLimit-Reset"]) > 0
    assert remaining == [2, 1, 0]
    refused = await client.get("/content")
    await assert_envelope(refused, 429, "ratelimit.exceeded")
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Remaining"] == "0"
    # Every route shares the address's bucket, 404s included.
    await assert_envelope(await client.get("/nope"), 429, "ratelimit.exceeded")


async def test_retry_after_is_honest(make_client):
    client = await make_client(RATE_LIMIT_ANON_PER_MINUTE="120")  # one every 0.5 s
    statuses = [(await client.get("/meta")).status for _ in range(121)]
    assert statuses[:120] == [200] * 120 and statuses[120] == 429
    refused = await client.get("/meta")
    await asyncio.sleep(int(refused.headers["Retry-After"]))
    assert (await client.get("/meta")).status == 200


async def test_authenticated_users_have_their_own_higher_limit(make_client):
    client = await make_client(RATE_LIMIT_ANON_PER_MINUTE="2", RATE_LIMIT_USER_PER_MINUTE="6",
                               AUTH_ALLOW_SELF_REGISTRATION="true")
    response = await client.post("/auth/register", json={"email": "u@example.org",
                                                         "password": PASSWORD})
    token = (await response.json())["data"]["accessToken"]
    authorized = {"Authorization": f"Bearer {token}"}
    statuses = [(await client.get("/me", headers=authorized)).status for _ in range(7)]
    assert statuses == [200] * 6 + [429]
    # The address's anonymous bucket is separate and still has room.
    assert (await client.get("/meta")).status == 200


async def test_auth_endpoints_have_a_stricter_bucket(make_client):
    client = await make_client(RATE_LIMIT_AUTH_PER_MINUTE="2", RATE_LIMIT_ANON_PER_MINUTE="100")
    body = {"email": "nobody@example.org", "password": "wrong password!"}
    statuses = [(await client.post("/auth/login", json=body)).status for _ in range(3)]
    assert statuses == [401, 401, 429]
    refused = await client.post("/auth/refresh", json={"refreshToken": "x"})
    await assert_envelope(refused, 429, "ratelimit.exceeded")
    assert (await client.get("/content")).status == 200


async def test_probes_are_never_limited(make_client):
    client = await make_client(RATE_LIMIT_ANON_PER_MINUTE="1")
    for _ in range(10):
        assert (await client.get("/health")).status == 200
        assert (await client.get("/ready")).status == 200
        assert "RateLimit-Limit" not in (await client.get("/health")).headers


async def test_spoofed_forwarded_for_changes_nothing_without_trusted_hops(make_client):
    client = await make_client(RATE_LIMIT_ANON_PER_MINUTE="2")
    statuses = [
        (await client.get("/meta", headers={"X-Forwarded-For": f"203.0.113.{n}"})).status
        for n in range(4)
    ]
    assert statuses == [200, 200, 429, 429]


async def test_trusted_hops_pick_the_address_the_proxy_saw(make_client, logs):
    client = await make_client(RATE_LIMIT_ANON_PER_MINUTE="1", TRUST_PROXY_HOPS="1")
    # The client wrote the leftmost entry; the trusted proxy appended the real address.
    first = await client.get("/meta", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7"})
    again = await client.get("/meta", headers={"X-Forwarded-For": "7.7.7.7, 198.51.100.7"})
    other = await client.get("/meta", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.8"})
    assert (first.status, again.status, other.status) == (200, 429, 200)
    (line,) = logs.find("ratelimit.exceeded")
    assert line["client"] == "198.51.100.7" and line["scope"] == "ip"
    assert line["level"] == "warn"


async def test_a_flood_logs_one_line_per_key_per_window(make_client, logs):
    client = await make_client(RATE_LIMIT_ANON_PER_MINUTE="1")
    for _ in range(50):
        await client.get("/meta")
    assert len(logs.find("ratelimit.exceeded")) == 1
    assert len(logs.find("request.completed")) == 50  # every request still has its line


async def test_a_flood_through_the_stack_keeps_the_limiter_bounded(make_client):
    from app.web.keys import RATE_LIMITER

    client = await make_client(TRUST_PROXY_HOPS="1", RATE_LIMIT_MAX_KEYS="500")
    for n in range(2000):
        await client.get("/meta", headers={"X-Forwarded-For": f"10.1.{n >> 8}.{n & 255}"})
    assert len(client.app[RATE_LIMITER]) <= 500


async def test_forwarded_for_split_over_several_lines_is_one_list(make_client):
    # A proxy that appends its own X-Forwarded-For line after the client's: the address the
    # proxy saw is the last entry of the whole list, whatever the client wrote before it.
    client = await make_client(RATE_LIMIT_AUTH_PER_MINUTE="3", TRUST_PROXY_HOPS="1")
    statuses = []
    for n in range(5):
        headers = CIMultiDict([("X-Forwarded-For", f"203.0.113.{n}"),
                               ("X-Forwarded-For", "198.51.100.77")])
        statuses.append((await client.post("/auth/login", json={}, headers=headers)).status)
    assert statuses == [400, 400, 400, 429, 429]


def test_an_ipv6_host_is_limited_by_its_slash_64():
    from app.web.client import limit_key

    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:ffff::9")
    assert limit_key("2001:db8:1:2::1") != limit_key("2001:db8:1:3::1")
    assert limit_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert limit_key("198.51.100.7") == "198.51.100.7" and limit_key("unknown") == "unknown"
