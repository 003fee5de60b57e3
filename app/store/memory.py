"""The example domain's embedded store: the core `MemoryDatabase` plus accounts, refresh tokens,
tags and content, all in process memory. For development and tests only; the configuration
refuses it in production because nothing survives a restart.

Atomicity comes from the event loop: no method awaits between reading and writing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from itertools import islice
from typing import Any

from app.domain.auth.models import RefreshToken, User
from app.domain.content.models import ContentItem, ContentQuery, Tag
from app.domain.content.search import fold
from app.domain.errors import Conflict
from app.store.memory_database import MemoryDatabase


class MemoryStore(MemoryDatabase):
    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._user_ids_by_email: dict[str, str] = {}
        self._tokens: dict[str, RefreshToken] = {}
        self._rotated: set[str] = set()  # parent jtis: the unique index of the Mongo adapter
        # family id -> (user id, revoked?, expires at)
        self._families: dict[str, tuple[str, bool, datetime]] = {}
        self._tags: dict[str, Tag] = {}
        self._content: dict[str, ContentItem] = {}
        self._stamp = 0

    # users

    async def create_user(self, user: User) -> None:
        if user.email in self._user_ids_by_email:
            raise Conflict("A user with this email already exists")
        self._users[user.id] = user
        self._user_ids_by_email[user.email] = user.id

    async def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    async def get_user_by_email(self, email: str) -> User | None:
        user_id = self._user_ids_by_email.get(email)
        return self._users.get(user_id) if user_id else None

    async def set_password_hash(
        self, user_id: str, password_hash: str, at: datetime, *, replaces: str | None = None
    ) -> bool:
        user = self._users.get(user_id)
        if user is None or (replaces is not None and user.password_hash != replaces):
            return False
        self._users[user_id] = replace(user, password_hash=password_hash, updated_at=at)
        return True

    async def set_user_disabled(self, user_id: str, disabled: bool, at: datetime) -> User | None:
        return self._update_user(user_id, disabled=disabled, updated_at=at)

    async def set_user_roles(
        self, user_id: str, roles: tuple[str, ...], at: datetime
    ) -> User | None:
        return self._update_user(user_id, roles=roles, updated_at=at)

    def _update_user(self, user_id: str, **changes: Any) -> User | None:
        user = self._users.get(user_id)
        if user is None:
            return None
        self._users[user_id] = replace(user, **changes)
        return self._users[user_id]

    # refresh tokens

    async def create_refresh_family(
        self, family_id: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        self._families[family_id] = (user_id, False, expires_at)

    async def extend_refresh_family(self, family_id: str, expires_at: datetime) -> bool:
        family = self._families.get(family_id)
        if family is None or family[1]:
            return False
        self._families[family_id] = (family[0], False, expires_at)
        return True

    async def revoke_refresh_family(
        self, family_id: str, at: datetime, *, by: str | None = None
    ) -> int:
        family = self._families.get(family_id)
        if family is not None:
            self._families[family_id] = (family[0], True, family[2])
        return self._revoke_tokens(lambda token: token.family_id == family_id, at, by)

    async def insert_refresh_token(self, token: RefreshToken) -> None:
        if token.jti in self._tokens:
            raise Conflict("Duplicate refresh token id")
        if token.parent_jti is not None:
            if token.parent_jti in self._rotated:
                raise Conflict("The parent token was already rotated")
            self._rotated.add(token.parent_jti)
        self._tokens[token.jti] = token

    async def get_refresh_token(self, jti: str) -> RefreshToken | None:
        return self._tokens.get(jti)

    async def mark_refresh_token_used(self, jti: str, at: datetime, replaced_by: str) -> None:
        token = self._tokens.get(jti)
        if token is not None and token.used_at is None:
            self._tokens[jti] = replace(token, used_at=at, replaced_by=replaced_by)

    async def revoke_user_refresh_tokens(
        self, user_id: str, at: datetime, *, by: str | None = None
    ) -> int:
        for family_id, (owner, _, expires_at) in list(self._families.items()):
            if owner == user_id:
                self._families[family_id] = (owner, True, expires_at)
        return self._revoke_tokens(lambda token: token.user_id == user_id, at, by)

    async def list_user_refresh_tokens(self, user_id: str) -> list[RefreshToken]:
        tokens = [token for token in self._tokens.values() if token.user_id == user_id]
        return sorted(tokens, key=lambda token: (token.created_at, token.jti), reverse=True)

    def _revoke_tokens(
        self, selects: Callable[[RefreshToken], bool], at: datetime, by: str | None
    ) -> int:
        revoked = 0
        for jti, token in list(self._tokens.items()):
            if selects(token) and token.revoked_at is None:
                self._tokens[jti] = replace(token, revoked_at=at, revoked_by=by)
                revoked += 1
        return revoked

    # tags and content

    async def create_tag(self, tag: Tag) -> None:
        self._stamp += 1
        if any(existing.slug == tag.slug for existing in self._tags.values()):
            raise Conflict(f"Tag {tag.slug!r} already exists")
        self._tags[tag.id] = tag

    async def list_tags(self) -> list[Tag]:
        return sorted(self._tags.values(), key=lambda tag: tag.slug)

    async def existing_tag_slugs(self, slugs: list[str]) -> set[str]:
        return {tag.slug for tag in self._tags.values()} & set(slugs)

    async def rename_tag(
        self, slug: str, new_slug: str, new_name: str | None, at: datetime
    ) -> Tag | None:
        tag = next((tag for tag in self._tags.values() if tag.slug == slug), None)
        if tag is None:
            return None
        if new_slug != slug and any(other.slug == new_slug for other in self._tags.values()):
            raise Conflict(f"Tag {new_slug!r} already exists")
        self._stamp += 1
        renamed = replace(tag, slug=new_slug, name=new_name or tag.name, updated_at=at)
        self._tags[tag.id] = renamed
        for item in list(self._content.values()):
            if slug in item.tags:
                tags = tuple(new_slug if value == slug else value for value in item.tags)
                self._content[item.id] = replace(item, tags=tags, updated_at=at)
        return renamed

    async def insert_content(self, item: ContentItem) -> None:
        self._stamp += 1
        self._content[item.id] = item

    async def get_content(self, item_id: str) -> ContentItem | None:
        return self._content.get(item_id)

    async def update_content(
        self, item_id: str, changes: dict[str, Any], at: datetime
    ) -> ContentItem | None:
        item = self._content.get(item_id)
        if item is None:
            return None
        self._stamp += 1
        self._content[item_id] = replace(item, **changes, updated_at=at)
        return self._content[item_id]

    async def delete_content(self, item_id: str) -> bool:
        self._stamp += 1
        return self._content.pop(item_id, None) is not None

    async def list_content(self, query: ContentQuery) -> list[ContentItem]:
        # Literal text, case folded as MongoDB's `$regex` with `i` folds it (not casefold(), nor
        # re.IGNORECASE: see search.fold).
        text = fold(query.text) if query.text else None
        matches = (
            item
            for item in sorted(self._content.values(), key=lambda item: item.id, reverse=True)
            if item.is_active
            and (query.after_id is None or item.id < query.after_id)
            and (query.tag is None or query.tag in item.tags)
            and (text is None or text in fold(item.title))
        )
        return list(islice(matches, query.limit))

    async def active_counts_by_tag(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for item in self._content.values():
            if item.is_active:
                counts.update(item.tags)
        return dict(counts)

    async def catalog_stamp(self) -> int:
        return self._stamp
