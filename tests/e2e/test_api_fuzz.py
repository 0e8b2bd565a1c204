"""The API fuzzed against its own contract (GET /api/schema) by schemathesis, inside a
network namespace with only loopback: no 5xx, every answer as the schema says.

Alone: `unshare -n .venv/bin/python -m tests.support.fuzz` (see tests/support/fuzz.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.product import ROOT

pytestmark = pytest.mark.e2e

# Examples per operation: bounded so the run stays within its share of `make test`.
EXAMPLES = os.environ.get("DOCKHAND_FUZZ_EXAMPLES", "12")


def test_schemathesis_finds_no_server_error_or_schema_mismatch() -> None:
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.support.fuzz", "--max-examples", EXAMPLES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{result.stdout[-12000:]}\n{result.stderr[-6000:]}"
