"""The example domain's storage port: the `Database` the core knows, plus the collections of
accounts, refresh tokens, tags and content. It belongs to the domain code that calls it.

Adapters raise `StoreUnavailable` when the database cannot serve (see `app.domain.database`) and
`Conflict` on a duplicate unique value; anything else is a programming error and keeps raising.
Every method is atomic on its own; nothing here is read-then-write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from app.domain.auth.models import RefreshToken, User
from app.domain.content.models import ContentItem, ContentQuery, Tag
from app.domain.database import Database


class UserStore(Protocol):
    async def create_user(self, user: User) -> None:
        """Insert; Conflict when the email is taken."""

    async def get_user(self, user_id: str) -> User | None: ...

    async def get_user_by_email(self, email: str) -> User | None: ...

    async def set_password_hash(
        self, user_id: str, password_hash: str, at: datetime, *, replaces: str | None = None
    ) -> bool:
        """False when there is no such user, or (with `replaces`) when the stored hash is no
        longer that one: a rehash on login must not undo a password reset made meanwhile."""

    async def set_user_disabled(self, user_id: str, disabled: bool, at: datetime) -> User | None:
        """The updated user, or None when there is no such user."""

    async def set_user_roles(
        self, user_id: str, roles: tuple[str, ...], at: datetime
    ) -> User | None:
        """The updated user, or None when there is no such user."""


class RefreshTokenStore(Protocol):
    async def create_refresh_family(
        self, family_id: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None: ...

    async def extend_refresh_family(self, family_id: str, expires_at: datetime) -> bool:
        """Push the family's expiry out; False when the family is revoked or gone."""

    async def revoke_refresh_family(
        self, family_id: str, at: datetime, *, by: str | None = None
    ) -> int:
        """Revoke the family and every token in it; the number of tokens newly revoked. `by`
        (models.OPERATOR) is recorded on the tokens newly revoked; those revoked earlier keep
        their own."""

    async def insert_refresh_token(self, token: RefreshToken) -> None:
        """Insert; Conflict when its `jti`, or its `parent_jti` (the parent was already rotated),
        is taken. This unique insert is what makes rotation atomic: of two concurrent rotations
        of one token exactly one insert succeeds, on any server (FerretDB v1's conditional
        updates are not atomic under concurrency; unique indexes are)."""

    async def get_refresh_token(self, jti: str) -> RefreshToken | None: ...

    async def mark_refresh_token_used(self, jti: str, at: datetime, replaced_by: str) -> None:
        """Record the rotation on the parent (for operators; the unique insert decided it)."""

    async def revoke_user_refresh_tokens(
        self, user_id: str, at: datetime, *, by: str | None = None
    ) -> int:
        """Revoke every family and token of the user; the number of tokens newly revoked. `by`:
        as for `revoke_refresh_family`."""

    async def list_user_refresh_tokens(self, user_id: str) -> list[RefreshToken]:
        """Newest first."""


class ContentStore(Protocol):
    async def create_tag(self, tag: Tag) -> None:
        """Insert; Conflict when the slug is taken."""

    async def list_tags(self) -> list[Tag]: ...

    async def existing_tag_slugs(self, slugs: list[str]) -> set[str]: ...

    async def rename_tag(
        self, slug: str, new_slug: str, new_name: str | None, at: datetime
    ) -> Tag | None:
        """Change the tag and every item carrying it, all or nothing; None when there is no
        such tag, Conflict when `new_slug` is taken, DependencyUnavailable when the database
        cannot do it atomically (a MongoDB without transactions)."""

    async def insert_content(self, item: ContentItem) -> None: ...

    async def get_content(self, item_id: str) -> ContentItem | None: ...

    async def update_content(
        self, item_id: str, changes: dict[str, Any], at: datetime
    ) -> ContentItem | None:
        """Set only the given ContentItem fields; the updated item, or None if missing."""

    async def delete_content(self, item_id: str) -> bool: ...

    async def list_content(self, query: ContentQuery) -> list[ContentItem]:
        """Active items matching the query, newest (largest id) first, ids below `after_id`."""

    async def active_counts_by_tag(self) -> dict[str, int]: ...

    async def catalog_stamp(self) -> int:
        """A number every content or tag write changes: one cheap read tells an instance whether
        its cached catalog is stale (instead of rebuilding it to find out)."""


@runtime_checkable  # the example's wiring checks that the database it is given is a Store
class Store(Database, UserStore, RefreshTokenStore, ContentStore, Protocol):
    """Everything the example domain keeps, on the database the core connects and watches."""
