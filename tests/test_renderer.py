"""The API's JSON is written by orjson (speed, benchmark #5) and reads exactly as
DRF's own renderer wrote it, value for value."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from dockhand.renderers import FastJSONRenderer

pytestmark = pytest.mark.django_db

VALUES: dict[str, Any] = {
    "text": "ünïcode \u2028 and \u2029 line ends",
    "numbers": [0, -1, 2**53, 1.5],
    "nothing": None,
    "flags": [True, False],
    "when": datetime(2026, 11, 23, 19, 0, 5, 123456, tzinfo=UTC),
    "day": date(2026, 11, 23),
    "clock": time(19, 0, 5, 123456),
    "took": timedelta(seconds=90),
    "money": Decimal("1.25"),
    "id": uuid.UUID(int=7),
    "lazy": gettext_lazy("Git stack not found"),
    "nested": {"list": [{"a": 1}], "int keys": {1: "one"}},
}


def test_the_fast_renderer_writes_what_drf_writes() -> None:
    fast, drf = FastJSONRenderer().render(VALUES), JSONRenderer().render(VALUES)
    assert json.loads(fast) == json.loads(drf)
    # Line separators escaped as DRF does, for JavaScript's sake.
    assert b"\\u2028" in fast and b"\\u2029" in fast and "\u2028".encode() not in fast


def test_asked_for_indentation_the_api_still_indents() -> None:
    body = FastJSONRenderer().render({"a": [1]}, "application/json; indent=2")
    assert body == JSONRenderer().render({"a": [1]}, "application/json; indent=2")


def test_the_api_answers_through_it(api: APIClient) -> None:
    response = api.get("/api/git/stacks")
    assert isinstance(response.accepted_renderer, FastJSONRenderer) and response.json() == []
