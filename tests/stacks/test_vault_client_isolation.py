"""The Vault client uses only what the store says: never the server's own VAULT_TOKEN,
~/.vault-token, VAULT_CACERT, proxies, nor a redirect to somewhere else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacks import vault
from tests.support.hostile_registry import Answer, HostileRegistry, hostile_registry

SERVER_TOKEN = "CANARY-servers-own-vault-token-41ac"


@pytest.fixture
def store_server() -> Iterator[HostileRegistry]:
    with hostile_registry() as server:
        yield server


@pytest.fixture
def elsewhere() -> Iterator[HostileRegistry]:
    with hostile_registry() as server:
        yield server


@pytest.fixture
def servers_own_vault(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, elsewhere: HostileRegistry) -> None:
    """The server's environment as a careless host has it: a token, a token file, a proxy."""
    monkeypatch.setenv("VAULT_TOKEN", SERVER_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".vault-token").write_text(SERVER_TOKEN)
    monkeypatch.setenv("HTTP_PROXY", f"http://{elsewhere.host}")
    monkeypatch.setenv("http_proxy", f"http://{elsewhere.host}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def _approle(server: HostileRegistry) -> vault.Store:
    return vault.Store(url=f"http://{server.host}", mount="secret", role_id="role", secret_id="CANARY-secret-id")


@pytest.mark.usefixtures("servers_own_vault")
def test_an_approle_login_carries_no_token_of_the_server(
    store_server: HostileRegistry, elsewhere: HostileRegistry
) -> None:
    login = {"auth": {"client_token": "issued", "lease_duration": 60, "renewable": False}}
    store_server.routes["/v1/auth/approle/login"] = Answer(
        200, {"Content-Type": "application/json"}, json.dumps(login).encode()
    )
    store_server.routes["/v1/auth/token/lookup-self"] = Answer(
        200, {"Content-Type": "application/json"}, b'{"data": {}}'
    )
    vault.check(_approle(store_server))
    assert store_server.seen[:2] == ["POST /v1/auth/approle/login", "GET /v1/auth/token/lookup-self"]
    assert SERVER_TOKEN not in json.dumps(store_server.headers)
    assert store_server.headers[1].get("X-Vault-Token") == "issued"
    assert elsewhere.seen == []  # no proxy from the environment


@pytest.mark.usefixtures("servers_own_vault")
def test_a_store_redirect_is_not_followed(store_server: HostileRegistry, elsewhere: HostileRegistry) -> None:
    store_server.routes["/v1/auth/token/lookup-self"] = Answer(
        307, {"Location": f"http://{elsewhere.host}/v1/auth/token/lookup-self"}
    )
    store = vault.Store(url=f"http://{store_server.host}", mount="secret", token="CANARY-store-token")
    with pytest.raises(vault.VaultError):
        vault.check(store)
    assert elsewhere.seen == []
