"""The storage port: what the service needs from a database, whatever the database is.

Adapters raise `StoreUnavailable` (a `DependencyUnavailable`) for every failure that means the
database cannot serve (not answering within the bounded timeout, refusing the credentials, no
primary, ...) and `Conflict` on a duplicate unique value; anything else is a programming error and
keeps raising. No other driver exception crosses this boundary. Every method is atomic on its
own; nothing here is read-then-write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from app.domain.auth.models import RefreshToken, User
from app.domain.content.models import ContentItem, ContentQuery, Tag
from app.domain.errors import DependencyUnavailable
from app.domain.ratelimit import Limiter


class StoreUnavailable(DependencyUnavailable):
    """The database cannot serve. `reason` is a short fixed word for operators (unreachable,
    timeout, authentication, authorization, not_primary, write_concern, transient, ...), never
    the driver's message: that may name hosts, and clients see only the generic message."""

    def __init__(self, reason: str, operation: str) -> None:
        super().__init__()
        self.reason = reason
        self.operation = operation


class UserStore(Protocol):
    async def create_user(self, user: User) -> None:
        """Insert; Conflict when the email is taken."""

    async def get_user(self, user_id: str) -> User | None: ...

    async def get_user_by_email(self, email: str) -> User | None: ...

    async def set_password_hash(self, user_id: str, password_hash: str, at: datetime) -> None: ...


class RefreshTokenStore(Protocol):
    async def create_refresh_family(
        self, family_id: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None: ...

    async def extend_refresh_family(self, family_id: str, expires_at: datetime) -> bool:
        """Push the family's expiry out; False when the family is revoked or gone."""

    async def revoke_refresh_family(self, family_id: str, at: datetime) -> int:
        """Revoke the family and every token in it; the number of tokens newly revoked."""

    async def insert_refresh_token(self, token: RefreshToken) -> None:
        """Insert; Conflict when its `jti`, or its `parent_jti` (the parent was already rotated),
        is taken. This unique insert is what makes rotation atomic: of two concurrent rotations
        of one token exactly one insert succeeds, on any server (FerretDB v1's conditional
        updates are not atomic under concurrency; unique indexes are)."""

    async def get_refresh_token(self, jti: str) -> RefreshToken | None: ...

    async def mark_refresh_token_used(self, jti: str, at: datetime, replaced_by: str) -> None:
        """Record the rotation on the parent (for operators; the unique insert decided it)."""

    async def revoke_user_refresh_tokens(self, user_id: str, at: datetime) -> int:
        """Revoke every family and token of the user; the number of tokens newly revoked."""

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


class Store(UserStore, RefreshTokenStore, ContentStore, Protocol):
    name: str

    async def connect(self) -> None:
        """Prepare the adapter (indexes, capabilities). Must not fail when the database is down
        or refuses the credentials: the service starts unready, the adapter keeps preparing in
        the background, and the service recovers when the database comes back."""

    async def ping(self, timeout: float) -> None:
        """Round-trip to the database within `timeout` seconds or raise StoreUnavailable."""

    def on_failure(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call `listener(reason)` whenever an operation raises StoreUnavailable (pings excepted:
        their caller sees the failure). Returns the function that stops it."""

    async def close(self) -> None: ...

    def shared_rate_limiter(self) -> Limiter:
        """A rate limiter whose counts every instance on this store shares."""
