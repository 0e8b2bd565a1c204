"""Page forms validate through the API's serializers: one set of rules and messages,
shown inline next to the field of the same (camelCase) name."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework.serializers import BaseSerializer


def flatten_errors(detail: Any, name: str = "") -> dict[str, str]:
    """{"field": "message"} from DRF's nested errors ("envVars.2.key" for list items)."""
    if isinstance(detail, dict):
        out: dict[str, str] = {}
        for key, value in detail.items():
            field = "form" if key == "non_field_errors" else (f"{name}.{key}" if name else str(key))
            out.update(flatten_errors(value, field))
        return out
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        out = {}
        for index, item in enumerate(detail):
            out.update(flatten_errors(item, f"{name}.{index}"))
        return out
    messages = detail if isinstance(detail, list) else [detail]
    return {name or "form": " ".join(str(m) for m in messages)} if messages else {}


def validate(serializer: BaseSerializer[Any]) -> dict[str, str]:
    """Run the serializer's validation; return inline errors (empty when valid)."""
    if serializer.is_valid():
        return {}
    return flatten_errors(serializer.errors)


def checkbox(data: QueryDict, name: str) -> bool:
    """HTML forms leave unchecked boxes out entirely."""
    return data.get(name) in ("on", "true", "1")


def lines(data: QueryDict, name: str) -> list[str]:
    """A textarea with one item per line."""
    return [line.strip() for line in (data.get(name) or "").splitlines() if line.strip()]


def optional_id(data: QueryDict, name: str) -> int | str | None:
    """A <select> value: '' means none; anything else goes to the serializer as given."""
    value = (data.get(name) or "").strip()
    return int(value) if value.isdigit() else (value or None)


def initial_values(serializer: BaseSerializer[Any] | None, **defaults: str) -> dict[str, str]:
    """What a form shows before it is posted: the object in API shape, as strings
    (as posted values are), over the given defaults."""
    values = dict(defaults)
    if serializer is not None:
        for key, value in serializer.data.items():
            if isinstance(value, bool):
                values[key] = "on" if value else ""
            elif isinstance(value, list):
                values[key] = "\n".join(str(v) for v in value)
            elif value is not None:
                values[key] = str(value)
    return values
