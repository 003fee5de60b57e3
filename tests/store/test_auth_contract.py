"""The store contract for users and refresh tokens: both adapters, the same assertions."""

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from app.domain.auth.models import RefreshToken, User
from app.domain.errors import Conflict
from app.domain.ids import new_id, utcnow


def a_user(email: str = "someone@example.org") -> User:
    now = utcnow()
    return User(new_id(), email, "$argon2id$fake", ("user",), now, now)


def a_token(user_id: str, family_id: str, parent: str | None = None, **kw) -> RefreshToken:
    now = kw.pop("created_at", utcnow())
    return RefreshToken(new_id(), user_id, family_id, now, now + timedelta(days=1),
                        parent_jti=parent, **kw)


async def test_users_round_trip(store):
    user = a_user()
    await store.create_user(user)
    assert await store.get_user(user.id) == user
    assert await store.get_user_by_email(user.email) == user
    assert await store.get_user("01H00000000000000000000000") is None
    assert await store.get_user_by_email("nobody@example.org") is None


async def test_duplicate_email_conflicts(store):
    await store.create_user(a_user("same@example.org"))
    with pytest.raises(Conflict):
        await store.create_user(a_user("same@example.org"))


async def test_set_password_hash(store):
    user = a_user()
    await store.create_user(user)
    later = utcnow() + timedelta(seconds=5)
    await store.set_password_hash(user.id, "$argon2id$new", later)
    stored = await store.get_user(user.id)
    assert stored.password_hash == "$argon2id$new" and stored.updated_at == later


async def test_token_round_trip_and_rotation_marking(store):
    root = a_token("U", "F")
    await store.insert_refresh_token(root)
    assert await store.get_refresh_token(root.jti) == root
    child = a_token("U", "F", parent=root.jti)
    await store.insert_refresh_token(child)
    at = utcnow()
    await store.mark_refresh_token_used(root.jti, at, child.jti)
    assert await store.get_refresh_token(root.jti) == replace(
        root, used_at=at, replaced_by=child.jti
    )
    assert (await store.get_refresh_token(child.jti)).parent_jti == root.jti


async def test_a_token_rotates_once(store):
    root = a_token("U", "F")
    await store.insert_refresh_token(root)
    await store.insert_refresh_token(a_token("U", "F", parent=root.jti))
    with pytest.raises(Conflict):
        await store.insert_refresh_token(a_token("U", "F", parent=root.jti))
    # Many roots (no parent) coexist.
    for _ in range(3):
        await store.insert_refresh_token(a_token("U", new_id()))


async def test_concurrent_rotations_of_one_token_have_one_winner(store):
    for _ in range(20):
        root = a_token("U", "F")
        await store.insert_refresh_token(root)

        async def rotate(parent: str = root.jti) -> bool:
            try:
                await store.insert_refresh_token(a_token("U", "F", parent=parent))
            except Conflict:
                return False
            return True

        results = await asyncio.gather(*(rotate() for _ in range(4)))
        assert sorted(results) == [False, False, False, True]


async def test_family_revocation(store):
    now = utcnow()
    await store.create_refresh_family("F1", "U", now, now + timedelta(days=1))
    await store.create_refresh_family("F2", "U", now, now + timedelta(days=1))
    tokens = [a_token("U", "F1"), a_token("U", "F1"), a_token("U", "F2")]
    for token in tokens:
        await store.insert_refresh_token(token)
    assert await store.extend_refresh_family("F1", now + timedelta(days=2))
    assert await store.revoke_refresh_family("F1", now) == 2
    assert await store.revoke_refresh_family("F1", now) == 0  # idempotent
    assert not await store.extend_refresh_family("F1", now + timedelta(days=3))
    assert await store.extend_refresh_family("F2", now + timedelta(days=3))
    assert not await store.extend_refresh_family("missing", now)
    assert (await store.get_refresh_token(tokens[0].jti)).revoked_at == now
    assert (await store.get_refresh_token(tokens[2].jti)).revoked_at is None


async def test_revoke_and_list_a_users_tokens(store):
    now = utcnow()
    await store.create_refresh_family("F1", "U", now, now + timedelta(days=1))
    await store.create_refresh_family("F9", "other", now, now + timedelta(days=1))
    mine = [a_token("U", "F1", created_at=now + timedelta(seconds=i)) for i in range(3)]
    for token in [*mine, a_token("other", "F9")]:
        await store.insert_refresh_token(token)
    listed = await store.list_user_refresh_tokens("U")
    assert [token.jti for token in listed] == [token.jti for token in reversed(mine)]
    assert await store.revoke_user_refresh_tokens("U", now) == 3
    assert await store.revoke_user_refresh_tokens("U", now) == 0
    assert not await store.extend_refresh_family("F1", now)
    assert await store.extend_refresh_family("F9", now)
    assert all(token.revoked_at == now for token in await store.list_user_refresh_tokens("U"))
    assert (await store.list_user_refresh_tokens("other"))[0].revoked_at is None


async def test_set_password_hash_only_over_the_hash_it_replaces(store):
    user = a_user()
    await store.create_user(user)
    at = utcnow()
    assert not await store.set_password_hash(user.id, "$argon2id$a", at, replaces="$other")
    assert (await store.get_user(user.id)).password_hash == user.password_hash
    assert await store.set_password_hash(user.id, "$argon2id$a", at, replaces=user.password_hash)
    assert (await store.get_user(user.id)).password_hash == "$argon2id$a"
    assert not await store.set_password_hash("01H00000000000000000000000", "$argon2id$b", at)


async def test_disable_enable_and_roles(store):
    user = a_user()
    await store.create_user(user)
    assert user.disabled is False and (await store.get_user(user.id)).disabled is False
    later = utcnow() + timedelta(seconds=5)
    disabled = await store.set_user_disabled(user.id, True, later)
    assert disabled == replace(user, disabled=True, updated_at=later)
    assert await store.get_user_by_email(user.email) == disabled
    assert (await store.set_user_disabled(user.id, False, later)).disabled is False
    changed = await store.set_user_roles(user.id, ("curator", "admin"), later)
    assert changed == replace(user, roles=("curator", "admin"), updated_at=later)
    assert await store.get_user(user.id) == changed
    missing = "01H00000000000000000000000"
    assert await store.set_user_disabled(missing, True, later) is None
    assert await store.set_user_roles(missing, ("user",), later) is None


async def test_a_user_stored_before_the_disabled_flag_reads_as_enabled(store):
    """Documents written before the flag have no `disabled` field (a restored backup too)."""
    from app.store.documents import user_document, user_from_document

    user = a_user("old@example.org")
    old = {key: value for key, value in user_document(user).items() if key != "disabled"}
    if hasattr(store, "_db"):  # MongoDB: the document as an older version stored it
        await store._db["users"].insert_one(old)
    else:  # memory: what loading such a backup does
        await store.create_user(user_from_document(old))
    stored = await store.get_user_by_email("old@example.org")
    assert stored == user and stored.disabled is False
    assert (await store.set_user_disabled(user.id, True, utcnow())).disabled is True


async def test_a_revocation_records_who_made_it(store):
    """`by` is kept on the tokens a revocation newly revokes, so a token an operator ended can
    be told from a stolen one; tokens revoked earlier keep their own reason (none: a logout, a
    reuse)."""
    now = utcnow()
    for family in ("F1", "F2", "F3"):
        await store.create_refresh_family(family, "U", now, now + timedelta(days=1))
    logged_out, ended, other_family = a_token("U", "F1"), a_token("U", "F2"), a_token("U", "F3")
    for token in (logged_out, ended, other_family):
        await store.insert_refresh_token(token)
    assert await store.revoke_refresh_family("F1", now) == 1
    assert (await store.get_refresh_token(logged_out.jti)).revoked_by is None

    later = now + timedelta(seconds=1)
    assert await store.revoke_refresh_family("F2", later, by="operator") == 1
    assert await store.revoke_user_refresh_tokens("U", later, by="operator") == 1

    stored = await store.get_refresh_token(logged_out.jti)
    assert (stored.revoked_at, stored.revoked_by) == (now, None)
    assert (await store.get_refresh_token(ended.jti)).revoked_by == "operator"
    stored = await store.get_refresh_token(other_family.jti)
    assert (stored.revoked_at, stored.revoked_by) == (later, "operator")
    assert not await store.extend_refresh_family("F3", later)


async def test_a_token_revoked_before_the_reason_was_kept_reads_as_no_reason(store):
    from app.store.documents import token_document, token_from_document

    now = utcnow()
    token = replace(a_token("U", "F"), revoked_at=now)
    old = {key: value for key, value in token_document(token).items() if key != "revokedBy"}
    if hasattr(store, "_db"):  # MongoDB: the document as an older version stored it
        await store._db["refresh_tokens"].insert_one(old)
    else:  # memory: what loading such a backup does
        await store.insert_refresh_token(token_from_document(old))
    stored = await store.get_refresh_token(token.jti)
    assert stored == token and stored.revoked_by is None
