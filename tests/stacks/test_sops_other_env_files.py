"""When a service's encrypted env_file is decrypted, its other env files are read only
to know which keys they take back: only regular files inside the working copy, of at
most compose_checks.MAX_FILE_BYTES (an absolute path, `../`, a device: left unread, for
the compose checks to refuse by name)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stacks.services import compose_checks, secret_inputs
from stacks.services.secret_inputs import Resolved


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "service.env").write_text("ENC=1\n")
    return root


def _kept(root: Path, other: Path) -> dict[str, str]:
    encrypted = root / "service.env"
    resolved = Resolved(files={encrypted: "TOKEN=decrypted\n"})
    by_service = {"app": [(encrypted, "service.env"), (other, str(other))]}
    compose_file = root / "compose.yaml"
    compose_file.write_text("services:\n  app:\n    image: x\n")
    services = secret_inputs._services_decrypted(by_service, [compose_file], resolved, root=root)
    return services["app"][1]


def test_a_later_env_file_inside_the_working_copy_takes_its_keys_back(root: Path) -> None:
    (root / "later.env").write_text("TOKEN=plain\n")
    assert _kept(root, root / "later.env") == {}


def test_an_env_file_outside_the_working_copy_is_not_read(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.env"
    outside.write_text("TOKEN=outside\n")
    assert _kept(root, outside) == {"TOKEN": "decrypted"}  # absolute
    assert _kept(root, root / ".." / "outside.env") == {"TOKEN": "decrypted"}  # ../
    (root / "link.env").symlink_to(outside)
    assert _kept(root, root / "link.env") == {"TOKEN": "decrypted"}  # a symlink out


def test_an_env_file_too_large_or_not_regular_is_not_read(root: Path) -> None:
    big = root / "big.env"
    big.write_text("TOKEN=big\n" + "#" * compose_checks.MAX_FILE_BYTES)
    assert _kept(root, big) == {"TOKEN": "decrypted"}
    (root / "zero.env").symlink_to("/dev/zero")
    assert secret_inputs._read_inside(root / "zero.env", root) is None
    os.mkfifo(root / "fifo.env")
    assert secret_inputs._read_inside(root / "fifo.env", root) is None
    assert secret_inputs._read_inside(root / "service.env", root) == "ENC=1\n"
