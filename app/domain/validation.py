"""Input validation with pydantic: one way to turn a body into a typed value or a
`validation.failed` error whose details name each field (never echoing the input)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from app.domain.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """Base of every request body: unknown fields refused, no type coercion (an operator object
    like `{"$gt": ""}` where a string belongs is an error, not a query)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def parse(model: type[M], payload: Any) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        details = [
            {
                "field": ".".join(str(part) for part in error["loc"]) or "body",
                "reason": error["msg"],
            }
            for error in exc.errors(include_input=False, include_url=False)
        ]
        raise ValidationFailed(details=details) from None
