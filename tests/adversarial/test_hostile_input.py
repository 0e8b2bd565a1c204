"""Input that can hurt is refused before git or compose runs: a 400 naming the field,
no request reaches the git server, and no marker file appears."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacks.models import Deployment

pytestmark = pytest.mark.django_db

MARKER = Path("/tmp/dockhand-adversarial-marker")


@pytest.fixture(autouse=True)
def _no_marker() -> Any:
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "a hostile value ran a command"


def _refused(response: Any, field: str, says: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body["fields"], body
    assert says in body["error"], body["error"]


# CVE class: command execution through git transports (ext::, fd::) and local reads.
@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"ext::sh -c touch% {MARKER}", "must not contain spaces"),
        (f"ext::sh%20-c%20touch%20{MARKER}", "must be an https://"),
        ("fd::17", "must be an https://"),
        ("fd::0,1/x", "must be an https://"),
        ("file:///etc/passwd", "must be an https://"),
        ("/root/.ssh", "must be an https://"),
        ("./relative/repo.git", "must be an https://"),
        (f"--upload-pack=touch {MARKER}", "must not start with '-'"),
        ("-oProxyCommand=touch", "must not start with '-'"),
        ("ssh://-oProxyCommand=touch/x.git", "must name a valid host"),
        ("git@-oProxyCommand=touch:x.git", "must be an https://"),
        ("https://example.test/$(id).git", "must not contain $"),
        ("https://example.test/`id`.git", "must not contain `"),
        ("https://example.test/a.git\r\nHost: evil", "line breaks"),
        ("https://example.test/a.git;touch", "must not contain ;"),
    ],
)
def test_hostile_repository_urls_are_refused(api: Any, url: str, says: str) -> None:
    _refused(api.post("/api/git/repositories", {"url": url}, format="json"), "url", says)
    _refused(api.post("/api/git/stacks", {"stackName": "x", "url": url}, format="json"), "url", says)


# CVE class: repository credentials returned by / logged through the API.
@pytest.mark.parametrize(
    "url",
    ["https://ghp_abc123@github.com/me/app.git", "https://user:pass@example.test/a.git", "http://token@10.0.0.1/a.git"],
)
def test_credentials_inside_urls_are_refused(api: Any, url: str) -> None:
    _refused(api.post("/api/git/repositories", {"url": url}, format="json"), "url", "use a credential")


# CVE class: command injection through a branch name.
@pytest.mark.parametrize(
    ("branch", "says"),
    [
        (f"--upload-pack=touch {MARKER}", "must not start with '-'"),
        ("-b", "must not start with '-'"),
        (f"main;touch {MARKER}", "must not contain"),
        ("$(id)", "must not contain $"),
        ("main\nrm", "line breaks"),
        ("a..b", "git check-ref-format"),
        ("refs/heads/x.lock", "git check-ref-format"),
        ("feature/@{x}", "must not contain { }"),
        ("HEAD", "git check-ref-format"),
    ],
)
def test_hostile_branch_names_are_refused(api: Any, branch: str, says: str) -> None:
    _refused(
        api.post("/api/git/stacks", {"stackName": "x", "url": "https://e.test/a.git", "branch": branch}, format="json"),
        "branch",
        says,
    )
    _refused(
        api.post("/api/git/repositories", {"url": "https://e.test/a.git", "branch": branch}, format="json"),
        "branch",
        says,
    )


@pytest.mark.parametrize("key", ["A B", "A=B", "1A", "A;B", "A$B", "", "A\nB", "-A"])
def test_env_keys_outside_the_portable_form_are_refused(api: Any, key: str) -> None:
    response = api.post(
        "/api/git/stacks",
        {"stackName": "x", "url": "https://e.test/a.git", "envVars": [{"key": key, "value": "v"}]},
        format="json",
    )
    assert response.status_code == 400 and "envVars" in response.json()["fields"]


def test_private_git_hosts_can_be_blocked_at_connect_time(
    api: Any, app_repo: Any, make_stack: Any, git_server: Any, settings: Any
) -> None:
    stack = make_stack(app_repo)  # saved while allowed: the check happens when git connects
    settings.BLOCK_PRIVATE_GIT_HOSTS = True
    before = len(git_server.requests)
    response = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert response.status_code == 500
    assert "127.0.0.1 resolves to 127.0.0.1 (loopback, private or link-local)" in response.json()["error"]
    assert len(git_server.requests) == before, "no request may reach the blocked host"


def test_git_runs_with_hooks_fsmonitor_submodules_and_lfs_off(
    api: Any, app_repo: Any, make_stack: Any, monkeypatch: pytest.MonkeyPatch, docker_image: str
) -> None:
    import git as gitpython

    envs: list[dict[str, str]] = []
    real = gitpython.cmd.Git.execute

    def execute(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        envs.append(dict(kwargs.get("env") or {}))
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(gitpython.cmd.Git, "execute", execute)
    stack = make_stack(app_repo)
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deployed"] is True
    for env in envs:
        config = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))}
        assert config["core.hooksPath"] == "/dev/null" and config["core.fsmonitor"] == "false"
        assert config["submodule.recurse"] == "false" and config["protocol.ext.allow"] == "never"
        assert env["GIT_LFS_SKIP_SMUDGE"] == "1" and env["GIT_ALLOW_PROTOCOL"] == "http:https:ssh"


# CVE class: an empty webhook secret accepted.
def test_an_empty_webhook_secret_is_never_accepted(api: Any, app_repo: Any, make_stack: Any) -> None:
    from rest_framework.test import APIClient

    stack = make_stack(app_repo, webhookEnabled=True, webhookSecret="")
    shown = api.get(f"/api/git/stacks/{stack['id']}").json()
    assert len(shown["webhookSecret"]) >= 32  # an empty one is replaced by a generated one
    api.put(f"/api/git/stacks/{stack['id']}", {"webhookSecret": ""}, format="json")
    assert len(api.get(f"/api/git/stacks/{stack['id']}").json()["webhookSecret"]) >= 32
    for headers in (
        {"HTTP_X_WEBHOOK_SECRET": ""},
        {"HTTP_X_GITLAB_TOKEN": ""},
        {"HTTP_X_HUB_SIGNATURE_256": "sha256="},
        {},
    ):
        response = APIClient().post(
            f"/api/git/stacks/{stack['id']}/webhook", data=b"{}", content_type="application/json", **headers
        )
        assert response.status_code == 401
    assert Deployment.objects.filter(stack_id=stack["id"]).count() == 0
