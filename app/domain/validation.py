"""Input validation with pydantic: one way to turn a body into a typed value or a
`validation.failed` error whose details name each field (never echoing the input)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from app.domain.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# One character that is neither whitespace nor a control character in any dialect in play. `\s`
# differs between ECMA-262 (the JSON Schema dialect: clients, schemathesis), Rust's regex (pydantic)
# and Python's str.strip (U+0085, U+FEFF, U+001C...), so published patterns spell the set out.
VISIBLE = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("null", "may be left out but not null")
    return value


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # `null` is not a value of the published type


# A field that may be left out (then None) but not sent as null: the schema lists it as optional,
# not nullable, and validation refuses an explicit null. For PATCH fields that cannot be cleared.
Omittable = Annotated[
    T | SkipJsonSchema[None], BeforeValidator(_refuse_null), Field(json_schema_extra=_no_default)
]


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
