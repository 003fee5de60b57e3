"""MongoDB documents <-> domain objects: the stored shape (camelCase, `_id`), in one place for
the adapter and the backup loader."""

from __future__ import annotations

from typing import Any

from app.domain.auth.models import RefreshToken, User
from app.domain.content.models import ContentItem, Tag


def user_document(user: User) -> dict[str, Any]:
    return {
        "_id": user.id,
        "email": user.email,
        "passwordHash": user.password_hash,
        "roles": list(user.roles),
        "createdAt": user.created_at,
        "updatedAt": user.updated_at,
        "disabled": user.disabled,
    }


def user_from_document(doc: dict[str, Any] | None) -> User | None:
    if doc is None:
        return None
    return User(
        id=doc["_id"],
        email=doc["email"],
        password_hash=doc["passwordHash"],
        roles=tuple(doc["roles"]),
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
        disabled=bool(doc.get("disabled", False)),  # absent in documents older than the flag
    )


def token_document(token: RefreshToken) -> dict[str, Any]:
    doc: dict[str, Any] = {} if token.parent_jti is None else {"parentJti": token.parent_jti}
    if token.revoked_by is not None:
        doc["revokedBy"] = token.revoked_by
    return doc | {
        "jti": token.jti,
        "userId": token.user_id,
        "familyId": token.family_id,
        "createdAt": token.created_at,
        "expiresAt": token.expires_at,
        "usedAt": token.used_at,
        "revokedAt": token.revoked_at,
        "replacedBy": token.replaced_by,
    }


def token_from_document(doc: dict[str, Any] | None) -> RefreshToken | None:
    if doc is None:
        return None
    return RefreshToken(
        jti=doc["jti"],
        user_id=doc["userId"],
        family_id=doc["familyId"],
        created_at=doc["createdAt"],
        expires_at=doc["expiresAt"],
        used_at=doc.get("usedAt"),
        revoked_at=doc.get("revokedAt"),
        replaced_by=doc.get("replacedBy"),
        parent_jti=doc.get("parentJti"),
        revoked_by=doc.get("revokedBy"),  # absent unless an operator revoked it
    )


def tag_from_document(doc: dict[str, Any]) -> Tag:
    return Tag(doc["_id"], doc["slug"], doc["name"], doc["createdAt"], doc["updatedAt"])


CONTENT_FIELDS = {
    "title": "title", "url": "url", "thumbnail_url": "thumbnailUrl", "tags": "tags",
    "is_active": "isActive", "created_at": "createdAt", "updated_at": "updatedAt",
}


def content_document(item: ContentItem) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": item.id}
    for field, key in CONTENT_FIELDS.items():
        value = getattr(item, field)
        doc[key] = list(value) if field == "tags" else value
    return doc


def content_from_document(doc: dict[str, Any] | None) -> ContentItem | None:
    if doc is None:
        return None
    return ContentItem(
        id=doc["_id"], title=doc["title"], url=doc["url"], thumbnail_url=doc.get("thumbnailUrl"),
        tags=tuple(doc["tags"]), is_active=doc["isActive"],
        created_at=doc["createdAt"], updated_at=doc["updatedAt"],
    )
