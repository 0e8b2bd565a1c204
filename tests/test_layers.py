"""The import contracts in pyproject.toml hold, and they would catch a breach: an
upward import between the apps, or a circle between modules hidden inside a function."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # The tree's own copy of the packages comes first on the path, before the
    # editable install of the real ones.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the three apps and their contracts, to break on purpose."""
    for package in ("dockhand", "gitsync", "stacks"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_from_gitsync_to_stacks_breaks_the_layers(tree: Path) -> None:
    (tree / "gitsync" / "upward.py").write_text("from stacks.models import GitStack  # noqa: F401\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "The apps depend one way: dockhand <- gitsync <- stacks BROKEN" in result.stdout
    assert "gitsync.upward -> stacks.models" in result.stdout


def test_plumbing_that_reaches_into_an_app_breaks_the_layers(tree: Path) -> None:
    audit = tree / "dockhand" / "audit.py"
    audit.write_text(audit.read_text() + "\n\ndef _peek() -> None:\n    from gitsync import models  # noqa: F401\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "dockhand.audit -> gitsync.models" in result.stdout


def test_a_circle_hidden_inside_a_function_breaks_the_acyclic_contract(tree: Path) -> None:
    # sync -> unchanged already; unchanged reaching back to sync, even lazily, is a circle.
    unchanged = tree / "stacks" / "services" / "unchanged.py"
    unchanged.write_text(
        unchanged.read_text() + "\n\ndef _back() -> None:\n    from stacks.services import sync  # noqa: F401\n"
    )
    result = _lint(tree)
    assert result.returncode != 0
    assert "No import circles between modules (imports inside functions count too) BROKEN" in result.stdout
