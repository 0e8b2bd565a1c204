"""Policies are allowlists checked on the resolved model (Step 11, item 1): every spelling
of a host path, every other way to bind the host (long syntax, volume drivers, external
networks) and every way into another container's namespaces is refused under
`restricted` (and what amounts to root under `baseline`), naming the service, the field
and the rule. The models here are real `compose config` output of real files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from stacks import compose
from stacks.models import Environment
from stacks.services.deploy_errors import DeployError
from stacks.services.policy import check_policy
from tests.support import docker as dockersupport
from tests.support.refusals import sync_refused

IMAGE = dockersupport.IMAGE


def _resolved(folder: Path, service: str, top: str = "") -> dict[str, Any]:
    """`compose config` of a one-service project written in `folder`."""
    folder.mkdir(exist_ok=True)
    (folder / "compose.yaml").write_text(
        f"services:\n  app:\n    image: {IMAGE}\n    pull_policy: never\n{service}{top}"
    )
    project = compose.ComposeProject(name="policy-check", workdir=folder, files=[folder / "compose.yaml"])
    env = compose.process_env(engine_env={})
    return compose.config(project, env=env)


def _refusal(level: str, folder: Path, service: str, top: str = "", host_paths: tuple[str, ...] = ()) -> str:
    model = _resolved(folder, service, top)
    with pytest.raises(DeployError) as refused:
        check_policy(level, model, root=folder, host_paths=host_paths)
    message = str(refused.value)
    assert message.endswith(f": not allowed under this environment's {level} policy"), message
    return message


HOST_BINDS = {
    "root": "    volumes: ['/:/host']\n",
    "root-double-slash": "    volumes: ['//:/host']\n",
    "root-dot": "    volumes: ['/./:/host']\n",
    "etc-dotdot": "    volumes: ['/etc/../:/host']\n",
    "docker-socket": "    volumes: ['/var/run/docker.sock:/s']\n",
    "docker-socket-other-path": "    volumes: ['/run/docker.sock:/s']\n",
    "ssh-keys-read-only": "    volumes: ['/root/.ssh:/k:ro']\n",
    "long-syntax": "    volumes:\n      - {type: bind, source: /etc, target: /h}\n",
    "relative-escape": "    volumes: ['../../../../../../../../:/h']\n",
    "home": "    volumes: ['~/:/h']\n",
}


@pytest.mark.parametrize("mount", HOST_BINDS.values(), ids=HOST_BINDS.keys())
def test_restricted_refuses_every_spelling_of_a_host_path(tmp_path: Path, mount: str) -> None:
    message = _refusal("restricted", tmp_path / "repo", mount)
    assert message.startswith("service app: volumes: host path /"), message
    assert "(only named volumes and paths inside the repository)" in message


def test_a_link_in_the_repository_to_the_host_root_is_the_host_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink("/", repo / "data")
    message = _refusal("restricted", repo, "    volumes: ['./data:/h']\n")
    assert message.startswith(f"service app: volumes: host path {repo}/data "), message


VOLUME_DRIVERS = {
    "bind-driver-opts": (
        "volumes:\n  hostvol:\n    driver_opts: {type: none, o: bind, device: /}\n",
        "volume hostvol: driver_opts",
    ),
    "bind-o-only": ("volumes:\n  hostvol:\n    driver_opts: {o: bind, device: /etc}\n", "volume hostvol: driver_opts"),
    "plugin-driver": ("volumes:\n  hostvol:\n    driver: local-persist\n", "volume hostvol: driver local-persist"),
    "external-volume": (
        "volumes:\n  hostvol:\n    external: true\n    name: other-stack_data\n",
        "volume hostvol: external",
    ),
}


@pytest.mark.parametrize(("top", "says"), VOLUME_DRIVERS.values(), ids=VOLUME_DRIVERS.keys())
def test_restricted_refuses_volumes_that_bind_the_host_or_another_stack(tmp_path: Path, top: str, says: str) -> None:
    # (a one-letter volume name would read as a Windows drive: `v:/data`)
    message = _refusal("restricted", tmp_path / "repo", "    volumes: ['hostvol:/data']\n", top)
    assert message.startswith(says), message


NAMESPACES = {
    "network-host": ("    network_mode: host\n", "service app: network_mode: host"),
    "network-other-container": (
        "    network_mode: container:other-stack-db-1\n",
        "service app: network_mode: container:",
    ),
    "pid-host": ("    pid: host\n", "service app: pid: host"),
    "pid-other-container": ("    pid: container:other-stack-db-1\n", "service app: pid: container:"),
    "ipc-host": ("    ipc: host\n", "service app: ipc: host"),
    "ipc-other-container": ("    ipc: container:other-stack-db-1\n", "service app: ipc: container:"),
    "userns-host": ("    userns_mode: host\n", "service app: userns_mode: host"),
    "uts-host": ("    uts: host\n", "service app: uts: host"),
    "cgroup-host": ("    cgroup: host\n", "service app: cgroup: host"),
    "volumes-from": ("    volumes_from: ['container:other-stack-db-1']\n", "service app: volumes_from"),
    "external-host-network": (
        "    networks: [hostnet]\nnetworks:\n  hostnet:\n    external: true\n    name: host\n",
        "network hostnet: the host's network",
    ),
}


@pytest.mark.parametrize(("service", "says"), NAMESPACES.values(), ids=NAMESPACES.keys())
def test_baseline_refuses_host_and_other_containers_namespaces(tmp_path: Path, service: str, says: str) -> None:
    assert _refusal("baseline", tmp_path / "repo", service).startswith(says)


POWERS = {
    "privileged": ("    privileged: true\n", "service app: privileged: true"),
    "sys-admin": ("    cap_add: [SYS_ADMIN]\n", "service app: cap_add SYS_ADMIN"),
    "cap-prefix-lowercase": ("    cap_add: [cap_sys_admin]\n", "service app: cap_add SYS_ADMIN"),
    "all-caps": ("    cap_add: [ALL]\n", "service app: cap_add ALL"),
    "seccomp-unconfined": (
        "    security_opt: ['seccomp:unconfined']\n",
        "service app: security_opt seccomp:unconfined",
    ),
    "apparmor-unconfined": (
        "    security_opt: ['apparmor=unconfined']\n",
        "service app: security_opt apparmor=unconfined",
    ),
    "label-disable": ("    security_opt: ['label:disable']\n", "service app: security_opt label:disable"),
    "seccomp-host-file": ("    security_opt: ['seccomp=/etc/profile.json']\n", "service app: security_opt seccomp="),
    "devices": ("    devices: ['/dev/sda:/dev/sda']\n", "service app: devices"),
    "device-cgroup-rules": ("    device_cgroup_rules: ['b 8:* rmw']\n", "service app: device_cgroup_rules"),
    "engine-socket": ("    use_api_socket: true\n", "service app: use_api_socket"),
    "privileged-hook": (
        "    post_start:\n      - {command: ['id'], privileged: true}\n",
        "service app: post_start: a privileged hook",
    ),
    "build-privileged": ("    build: {context: ., privileged: true}\n", "service app: build: privileged"),
    "build-entitlement": (
        "    build: {context: ., entitlements: [security.insecure]}\n",
        "service app: build: entitlements security.insecure",
    ),
    "build-host-network": ("    build: {context: ., network: host}\n", "service app: build: network host"),
}


@pytest.mark.parametrize(("service", "says"), POWERS.values(), ids=POWERS.keys())
def test_baseline_refuses_what_amounts_to_root_on_the_host(tmp_path: Path, service: str, says: str) -> None:
    assert _refusal("baseline", tmp_path / "repo", service).startswith(says)


RESTRICTED_ONLY = {
    "net-admin": "    cap_add: [NET_ADMIN]\n",
    "chown": "    cap_add: [CHOWN]\n",
    "external-volume": "    volumes: ['shared:/d']\nvolumes:\n  shared:\n    external: true\n",
    "cgroup-parent": "    cgroup_parent: system.slice\n",
    "runtime": "    runtime: nvidia\n",
    "external-links": "    external_links: ['other-stack-db-1:db']\n",
}


@pytest.mark.parametrize("service", RESTRICTED_ONLY.values(), ids=RESTRICTED_ONLY.keys())
def test_restricted_is_narrower_than_baseline(tmp_path: Path, service: str) -> None:
    _refusal("restricted", tmp_path / "repo", service)
    if "NET_ADMIN" not in service:  # NET_ADMIN is no Docker default: baseline refuses it too
        check_policy("baseline", _resolved(tmp_path / "repo", service), root=tmp_path / "repo")


def test_what_every_level_allows(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    allowed = (
        "    volumes:\n      - data:/data\n      - ./config:/config:ro\n      - {type: tmpfs, target: /tmp}\n"
        "    cap_add: [NET_BIND_SERVICE]\n    cap_drop: [ALL]\n    security_opt: ['no-new-privileges:true']\n"
        "    ports: ['127.0.0.1:8080:80']\n    networks: [default, proxy]\n    read_only: true\n"
        f"  db:\n    image: {IMAGE}\n    pull_policy: never\n    network_mode: service:app\n"
        "volumes:\n  data: {}\n  scratch:\n    driver_opts: {type: tmpfs, device: tmpfs, o: size=64m}\n"
        "networks:\n  proxy:\n    external: true\n    name: traefik\n"
    )
    model = _resolved(repo, allowed)
    for level in ("privileged", "baseline", "restricted"):
        check_policy(level, model, root=repo)


def test_baseline_allows_host_folders_the_environment_names_and_no_others(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    check_policy(
        "baseline", _resolved(repo, "    volumes: ['/srv/data/app:/d']\n"), root=repo, host_paths=["/srv/data"]
    )
    for outside in ("/srv/data-other:/d", "/srv/data/../../etc:/d", "/srv:/d"):
        message = _refusal("baseline", repo, f"    volumes: ['{outside}']\n", host_paths=("/srv/data",))
        assert "(only named volumes and paths inside the repository, or under /srv/data)" in message, message
    # restricted ignores the list: no host paths at all
    _refusal("restricted", repo, "    volumes: ['/srv/data/app:/d']\n", host_paths=("/srv/data",))


@pytest.mark.django_db
def test_a_refused_deploy_starts_nothing_and_the_same_deploys_where_allowed(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    compose_yaml = (
        f"services:\n  app:\n    image: {IMAGE}\n    pull_policy: never\n    command: ['sleep', '3600']\n"
        "    volumes: ['hostvol:/host']\nvolumes:\n  hostvol:\n    driver_opts: {type: none, o: bind, device: /}\n"
    )
    repo = git_server.create_repo(f"policy-{os.getpid()}", {"compose.yaml": compose_yaml})
    Environment.objects.filter(name="local").update(policy=Environment.Policy.RESTRICTED)
    stack = make_stack(repo, envFilePath="")
    body = sync_refused(
        "never-shown", api, stack, "volume hostvol: driver_opts device=/, o=bind, type=none (only a tmpfs)"
    )
    assert body["error"].endswith("not allowed under this environment's restricted policy")

    Environment.objects.filter(name="local").update(policy=Environment.Policy.PRIVILEGED)
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deployed"] is True


@pytest.mark.django_db
def test_policies_are_named_and_validated_in_the_api(api: Any) -> None:
    local = api.get("/api/environments").json()[0]
    assert local["policy"] == "privileged" and local["hostPaths"] == []
    path = f"/api/environments/{local['id']}"
    legacy = api.put(path, {"policy": "none"}, format="json")
    assert legacy.status_code == 200 and legacy.json()["policy"] == "privileged"  # the old name still works
    bad = api.put(path, {"policy": "strict"}, format="json")
    assert bad.json()["fields"]["policy"] == ["must be one of privileged, baseline, restricted"]
    root = api.put(path, {"policy": "baseline", "hostPaths": ["/srv/../"]}, format="json")
    assert root.json()["fields"]["hostPaths"] == ["/ would allow every host path: use the privileged policy"]
    relative = api.put(path, {"hostPaths": ["srv/data"]}, format="json")
    assert relative.json()["fields"]["hostPaths"] == ["'srv/data' is not an absolute path"]
    saved = api.put(path, {"policy": "baseline", "hostPaths": ["/srv/data/", "/srv//data", "/opt/x"]}, format="json")
    assert (saved.json()["policy"], saved.json()["hostPaths"]) == ("baseline", ["/opt/x", "/srv/data"])
