"""A SOPS-encrypted env file in the repository (Step 15): decrypted at deploy time with
an age key stored as a credential, never written into the working copy, never shown;
without the key, or with another one, the deploy fails by name and what runs stays.
Real sops, real age keys, real git server, real Docker engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from stacks import sops
from stacks.models import Deployment
from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport
from tests.support.at_rest import files_holding
from tests.support.vault import age_key, sops_encrypt

pytestmark = pytest.mark.django_db

DECRYPTED = "CANARY-sops-value-6f2c1d"


def _age_credential(api: Any, name: str, identity: str) -> dict[str, Any]:
    response = api.post("/api/git/credentials", {"name": name, "authType": "age", "ageKey": identity}, format="json")
    assert response.status_code == 201, response.content
    body = dict(response.json())
    assert "ageKey" not in body and body["hasSecret"] is True  # write-only
    return body


def _sync(api: Any, stack: dict[str, Any], **body: Any) -> dict[str, Any]:
    return dict(api.post(f"/api/git/stacks/{stack['id']}/sync", body, format="json").json())


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_an_encrypted_env_file_deploys_with_its_key_and_fails_without(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    key = age_key()
    encrypted = sops_encrypt(f"SECRET={DECRYPTED}\nFROM_REPO=from-sops\n", key.recipient)
    repo = git_server.create_repo("sops-app", {"compose.yaml": compose_file(), "secrets.env": encrypted})
    credential = _age_credential(api, "team-age", key.identity)
    stack = make_stack(
        repo,
        envFilePath="secrets.env",
        sopsCredentialId=credential["id"],
        envVars=[{"key": "PLAIN", "value": "plain-override"}],
    )
    assert stack["sopsCredentialId"] == credential["id"]

    with files_holding([DECRYPTED]) as held:
        body = _sync(api, stack)
    assert body["success"] is True and body["deployed"] is True, body
    env = dockersupport.container_env(container_name(stack))
    assert env["SECRET"] == DECRYPTED and env["FROM_REPO"] == "from-sops" and env["PLAIN"] == "plain-override"
    # While compose ran, the decrypted text was in one 0600 file of the run directory
    # (no file of the working copy), as compose reads it; it went when compose ended.
    decrypted = settings.RUN_DIR / f"deployment-{body['deploymentId']}.sops-0.env"
    assert list(held) == [decrypted], held
    assert held[decrypted].while_compose and held[decrypted].mode == 0o600
    assert sops.dotenv_values(held[decrypted].text) == {"SECRET": DECRYPTED, "FROM_REPO": "from-sops"}
    assert not decrypted.exists()
    # The working copy still holds the encrypted file; no decrypted file outlived compose.
    workdir = settings.STACKS_DIR / str(stack["id"]) / "repo"
    assert (workdir / "secrets.env").read_text() == encrypted
    for path in _files_under(settings.DATA_DIR):
        assert DECRYPTED.encode() not in path.read_bytes(), path
    deployment = Deployment.objects.get(pk=body["deploymentId"])
    assert DECRYPTED not in deployment.output_text() + deployment.resolved
    assert DECRYPTED not in str(deployment.env_snapshot) + str(deployment.config)
    assert set(deployment.config["secretInputs"]) == {"file:secrets.env"}  # its keyed HMAC, in the revision
    assert api.get(f"/api/git/stacks/{stack['id']}/status").json()["syncState"] == "Synced"

    # Another age key: the deploy fails naming the file and the key; the container stays.
    other = _age_credential(api, "other-age", age_key().identity)
    assert (
        api.put(f"/api/git/stacks/{stack['id']}", {"sopsCredentialId": other["id"]}, format="json").status_code == 200
    )
    failed = _sync(api, stack, force=True)
    assert failed["success"] is False
    assert "could not decrypt secrets.env with the age key other-age" in failed["error"], failed
    assert dockersupport.container_env(container_name(stack))["SECRET"] == DECRYPTED  # still running

    # No key at all: it says so.
    assert api.put(f"/api/git/stacks/{stack['id']}", {"sopsCredentialId": None}, format="json").status_code == 200
    failed = _sync(api, stack, force=True)
    assert failed["success"] is False and "could not decrypt secrets.env" in failed["error"]
    assert "names no age key (sopsCredentialId)" in failed["error"]
    assert dockersupport.containers(stack["projectName"])[0]["State"] == "running"
    assert not [p for p in (settings.RUN_DIR.iterdir() if settings.RUN_DIR.exists() else []) if "sops" in p.name]


def test_the_project_dotenv_may_be_encrypted_too(api: Any, git_server: Any, make_stack: Any, docker_image: str) -> None:
    key = age_key()
    repo = git_server.create_repo(
        "sops-dotenv", {"compose.yaml": compose_file(), ".env": sops_encrypt(f"SECRET={DECRYPTED}\n", key.recipient)}
    )
    credential = _age_credential(api, "dotenv-age", key.identity)
    stack = make_stack(repo, envFilePath="", sopsCredentialId=credential["id"], envVars=[])
    assert _sync(api, stack)["deployed"] is True
    assert dockersupport.container_env(container_name(stack))["SECRET"] == DECRYPTED


def test_age_credentials_are_checked(api: Any, git_server: Any, make_stack: Any, token_credential: Any) -> None:
    bad = api.post("/api/git/credentials", {"name": "x", "authType": "age", "ageKey": "not-a-key"}, format="json")
    assert bad.status_code == 400 and "ageKey" in bad.json()["error"]
    missing = api.post("/api/git/credentials", {"name": "x", "authType": "age"}, format="json")
    assert missing.status_code == 400 and "ageKey" in missing.json()["error"]
    repo = git_server.create_repo("sops-check", {"compose.yaml": compose_file()})
    # A git credential does not decrypt: the field is named.
    refused = api.post(
        "/api/git/stacks",
        {
            "stackName": "s",
            "url": repo.url,
            "credentialId": token_credential["id"],
            "sopsCredentialId": token_credential["id"],
        },
        format="json",
    )
    assert refused.status_code == 400 and "sopsCredentialId" in refused.json()["error"]
    # A credential that decrypts a stack's files is not deleted from under it.
    age = _age_credential(api, "in-use", age_key().identity)
    stack = make_stack(repo, envFilePath="", sopsCredentialId=age["id"])
    assert api.delete(f"/api/git/credentials/{age['id']}").status_code == 409
    assert api.get(f"/api/git/stacks/{stack['id']}").json()["sopsCredentialId"] == age["id"]


def test_an_encrypted_service_env_file_reaches_its_service_decrypted_in_compose_order(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    key = age_key()
    compose = compose_file().replace(
        "    pull_policy: never\n", "    pull_policy: never\n    env_file: [service.env, later.env]\n"
    )
    # TOKEN only here; VERSION is the service's own (it wins); SHARED is in the later
    # plain file too (the later file wins); a `$` stays a `$`.
    service_env = f"TOKEN={DECRYPTED}\nVERSION=from-file\nSHARED=from-encrypted\nPRICE=5$\n"
    repo = git_server.create_repo(
        "sops-service",
        {
            "compose.yaml": compose,
            "service.env": sops_encrypt(service_env, key.recipient),
            "later.env": "SHARED=from-later\n",
        },
    )
    credential = _age_credential(api, "service-age", key.identity)
    stack = make_stack(repo, envFilePath="", sopsCredentialId=credential["id"], envVars=[])
    with files_holding([DECRYPTED]) as held:
        body = _sync(api, stack)
    assert body["success"] is True and body["deployed"] is True, body
    env = dockersupport.container_env(container_name(stack))
    assert env["TOKEN"] == DECRYPTED and env["PRICE"] == "5$"
    # The service's variables reached compose in a generated 0600 compose file of the
    # run directory, there while compose ran and gone after.
    generated = settings.RUN_DIR / f"deployment-{body['deploymentId']}.sops-services.yaml"
    assert list(held) == [generated], held
    assert held[generated].while_compose and held[generated].mode == 0o600
    assert f'"TOKEN": "{DECRYPTED}"' in held[generated].text and '"PRICE": "5$$"' in held[generated].text
    assert not generated.exists()
    assert env["VERSION"] == "1" and env["SHARED"] == "from-later"
    assert not [k for k in env if k.startswith("sops_")]
    assert DECRYPTED not in body["output"]
    assert not [p for p in _files_under(settings.DATA_DIR) if DECRYPTED in p.read_text(errors="replace")]
    # The same files give the same config hash: a forced sync recreates nothing.
    first = dockersupport.inspect(container_name(stack))["Id"]
    again = _sync(api, stack, force=True)
    assert again["success"] is True, again
    assert dockersupport.inspect(container_name(stack))["Id"] == first
    status = api.get(f"/api/git/stacks/{stack['id']}/status").json()
    assert status["syncState"] == "Synced", status


def test_an_encrypted_env_file_of_an_included_file_is_refused_not_passed_on_as_ciphertext(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    key = age_key()
    service = compose_file().replace(
        "    pull_policy: never\n", "    pull_policy: never\n    env_file: [service.env]\n"
    )
    repo = git_server.create_repo(
        "sops-included",
        {
            "compose.yaml": "include:\n  - sub/compose.yaml\n",
            "sub/compose.yaml": service,
            "sub/service.env": sops_encrypt("TOKEN=abc\n", key.recipient),
        },
    )
    credential = _age_credential(api, "included-age", key.identity)
    stack = make_stack(repo, envFilePath="", sopsCredentialId=credential["id"], envVars=[])
    failed = _sync(api, stack)
    assert failed["success"] is False and "service app reads a SOPS-encrypted env_file" in failed["error"], failed
    assert dockersupport.containers(stack["projectName"]) == []


def test_an_age_key_of_other_environments_is_refused_by_name(api: Any, git_server: Any, token_credential: Any) -> None:
    other = api.post("/api/environments", {"name": "elsewhere"}, format="json")
    assert other.status_code == 201, other.content
    scoped = api.post(
        "/api/git/credentials",
        {"name": "scoped", "authType": "age", "ageKey": age_key().identity, "environmentIds": [other.json()["id"]]},
        format="json",
    )
    assert scoped.status_code == 201, scoped.content
    repo = git_server.create_repo("sops-scope", {"compose.yaml": compose_file()})
    refused = api.post(
        "/api/git/stacks",
        {
            "stackName": "scoped",
            "url": repo.url,
            "credentialId": token_credential["id"],
            "sopsCredentialId": scoped.json()["id"],
        },
        format="json",
    )
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"] == "sopsCredentialId: credential 'scoped' may not be used in environment 'local'"
