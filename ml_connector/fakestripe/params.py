"""Typed reading of decoded request parameters, with Stripe's validation messages.

Every reader takes the parameter's name so that an error can point at it (``param`` in the error
envelope), which is what a developer debugging a 400 looks at first.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ml_connector.fakestripe.errors import invalid, missing_param, unknown_param

Params = Mapping[str, Any]

_TRUE = {"true"}
_FALSE = {"false"}
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500


def reject_unknown(params: Params, allowed: Collection[str]) -> None:
    """Stripe refuses parameters an endpoint does not know; so do we (it catches typos in callers)."""
    for key in params:
        if key not in allowed and key != "expand":
            raise unknown_param(key)


def string(params: Params, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise missing_param(name)
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {name} must be a string", param=name)
    if required and value == "":
        raise missing_param(name)
    if len(value) > max_length:
        raise invalid(f"Invalid string: {name} must be at most {max_length} characters", param=name)
    return value


def nullable_string(params: Params, name: str) -> tuple[bool, str | None]:
    """For updates: (given?, value) where an empty string means "unset" (null)."""
    if name not in params:
        return False, None
    value = string(params, name)
    return True, (value or None)


def integer(
    params: Params, name: str, *, required: bool = False, minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise missing_param(name)
        return None
    if not isinstance(raw, str):
        raise invalid(f"Invalid integer: {name}", param=name)
    try:
        value = int(raw, 10)
    except ValueError:
        raise invalid(f"Invalid integer: {raw}", param=name) from None
    if minimum is not None and value < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param=name)
    if maximum is not None and value > maximum:
        raise invalid(f"This value must be less than or equal to {maximum}.", param=name)
    return value


def boolean(params: Params, name: str, *, default: bool | None = None) -> bool | None:
    raw = params.get(name)
    if raw is None:
        return default
    if isinstance(raw, str) and raw.lower() in _TRUE:
        return True
    if isinstance(raw, str) and raw.lower() in _FALSE:
        return False
    raise invalid(f"Invalid boolean: {raw}", param=name)


def decimal(params: Params, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise invalid(f"Invalid decimal: {name}", param=name)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise invalid(f"Invalid decimal: {raw}", param=name) from None
    if not value.is_finite():
        raise invalid(f"Invalid decimal: {raw}", param=name)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -12:
        raise invalid(f"Invalid decimal: {raw} has more than 12 decimal places", param=name)
    return value


def choice(params: Params, name: str, options: Collection[str], *, default: str | None = None) -> str | None:
    value = string(params, name)
    if value is None:
        return default
    if value not in options:
        listed = ", ".join(sorted(options))
        raise invalid(f"Invalid {name}: must be one of {listed}", param=name)
    return value


def mapping(params: Params, name: str) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, list):  # ``x[0]=…`` decodes as a list; a hash keyed by digits is still a hash
        return {str(index): item for index, item in enumerate(value)}
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {name} must be a hash", param=name)
    return value


def string_list(params: Params, name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, dict) or not all(isinstance(item, str) for item in value):
        raise invalid(f"Invalid array: {name} must be an array of strings", param=name)
    return list(value)


def expand_paths(params: Params) -> list[str]:
    return string_list(params, "expand") or []


def metadata_update(params: Params, current: Mapping[str, str]) -> dict[str, str] | None:
    """Apply Stripe's metadata semantics; None when ``metadata`` was not sent.

    Keys are merged into what is there; a key sent with an empty value is removed; ``metadata=""``
    removes every key.
    """
    if "metadata" not in params:
        return None
    raw = params["metadata"]
    if raw == "":
        return {}
    given = mapping(params, "metadata") or {}
    result = dict(current)
    for key, value in given.items():
        if not isinstance(value, str):
            raise invalid(f"Invalid value for metadata[{key}]: must be a string", param=f"metadata[{key}]")
        if len(key) > METADATA_KEY_MAX:
            raise invalid(
                f"Metadata keys can have up to {METADATA_KEY_MAX} characters; {key!r} is too long",
                param=f"metadata[{key}]",
            )
        if len(value) > METADATA_VALUE_MAX:
            raise invalid(
                f"Metadata values can have up to {METADATA_VALUE_MAX} characters; metadata[{key}] is too long",
                param=f"metadata[{key}]",
            )
        if value == "":
            result.pop(key, None)
        else:
            result[key] = value
    if len(result) > METADATA_MAX_KEYS:
        raise invalid(f"Metadata can have up to {METADATA_MAX_KEYS} keys", param="metadata")
    return result


def created_filter(params: Params, name: str = "created") -> dict[str, int]:
    """``created=123`` or ``created[gte]=…`` (gt/gte/lt/lte) as a dict of bounds."""
    raw = params.get(name)
    if raw is None:
        return {}
    if isinstance(raw, str):
        exact = integer(params, name)
        return {} if exact is None else {"gte": exact, "lte": exact}
    if not isinstance(raw, dict):
        raise invalid(f"Invalid {name}: must be an integer or a hash", param=name)
    bounds: dict[str, int] = {}
    for op, value in raw.items():
        if op not in {"gt", "gte", "lt", "lte"}:
            raise unknown_param(f"{name}[{op}]")
        parsed = integer({op: value}, op)
        if parsed is not None:
            bounds[op] = parsed
    return bounds


def in_bounds(value: int, bounds: Mapping[str, int]) -> bool:
    return (
        ("gt" not in bounds or value > bounds["gt"])
        and ("gte" not in bounds or value >= bounds["gte"])
        and ("lt" not in bounds or value < bounds["lt"])
        and ("lte" not in bounds or value <= bounds["lte"])
    )
