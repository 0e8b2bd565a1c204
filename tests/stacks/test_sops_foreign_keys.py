"""A SOPS file whose metadata names a master key other than age (kms, gcp_kms,
azure_kv, hc_vault, pgp) is refused before sops runs: sops tries every key it finds, so
such a file would have dockhand reach out with the server's own cloud or Vault identity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stacks import sops
from tests.support.listener import Listener
from tests.support.vault import age_key, sops_encrypt

pytestmark = pytest.mark.django_db


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.stop()


def _with_foreign_key(encrypted: str, line: str) -> str:
    lines = encrypted.splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("sops_age__"))
    return "\n".join([*lines[:at], line, *lines[at:]]) + "\n"


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("sops_kms__list_0__map_arn=arn:aws:kms:us-east-1:111122223333:key/x", "kms"),
        ("sops_gcp_kms__list_0__map_resource_id=projects/p/locations/l/keyRings/r/cryptoKeys/k", "gcp_kms"),
        ("sops_azure_kv__list_0__map_vault_url=https://v.vault.azure.net", "azure_kv"),
        ("sops_pgp__list_0__map_fp=0123456789ABCDEF0123456789ABCDEF01234567", "pgp"),
        ("sops_key_groups__list_0__map_kms__list_0__map_arn=arn:aws:kms:us-east-1:1:key/x", "kms"),
    ],
)
def test_a_file_for_another_kind_of_key_is_refused(tmp_path: Path, line: str, kind: str) -> None:
    key = age_key()
    path = tmp_path / "secrets.env"
    path.write_text(_with_foreign_key(sops_encrypt("SECRET=CANARY-foreign-1\n", key.recipient), line))
    assert sops.foreign_master_keys(path.read_text()) == [kind]
    with pytest.raises(sops.SopsError, match=f"it is encrypted for {kind}; dockhand decrypts age only"):
        sops.decrypt_dotenv(path, age_key=key.identity)


def test_an_age_file_has_no_foreign_key() -> None:
    assert sops.foreign_master_keys(sops_encrypt("A=1\n", age_key().recipient)) == []


def test_a_file_for_a_vault_key_never_reaches_that_vault(
    api: Any, git_server: Any, make_stack: Any, listener: Listener
) -> None:
    key = age_key()
    vault = f"sops_hc_vault__list_0__map_vault_address=http://127.0.0.1:{listener.port}"
    more = [
        "sops_hc_vault__list_0__map_engine_path=transit",
        "sops_hc_vault__list_0__map_key_name=k",
        "sops_hc_vault__list_0__map_created_at=2026-01-01T00:00:00Z",
        "sops_hc_vault__list_0__map_enc=vault:v1:abc",
    ]
    encrypted = _with_foreign_key(sops_encrypt("SECRET=CANARY-foreign-2\n", key.recipient), "\n".join([vault, *more]))
    repo = git_server.create_repo("sops-foreign", {"compose.yaml": "services: {}\n", "secrets.env": encrypted})
    made = api.post("/api/git/credentials", {"name": "age-f", "authType": "age", "ageKey": key.identity}, format="json")
    stack = make_stack(repo, envFilePath="secrets.env", sopsCredentialId=made.json()["id"])
    failed = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert failed["success"] is False, failed
    assert "secrets.env is encrypted for hc_vault; dockhand decrypts age only" in failed["error"], failed
    assert listener.connections == 0
