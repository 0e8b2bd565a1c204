"""Everything dockhand asks the Docker engine directly (docker SDK), behind one module."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
from django.conf import settings
from docker.errors import DockerException
from docker.tls import TLSConfig
from requests import RequestException

from dockhand.sshopts import ssh_options, write_askpass

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
ONEOFF_LABEL = "com.docker.compose.oneoff"


# What a call to an engine can raise: the SDK's own errors, and the transport's (TLS
# and connection failures reach us from requests unwrapped).
_FAILURES = (DockerException, RequestException)


class EngineError(Exception):
    """The engine could not be reached or refused a request."""


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    service: str
    image: str
    state: str  # created | running | paused | restarting | removing | exited | dead
    project: str = ""
    health: str = ""  # healthy | unhealthy | starting, or "" without a healthcheck
    exit_code: int = 0
    image_id: str = ""
    config_hash: str = ""
    ports: list[str] = field(default_factory=list)


SSH_CONNECT_SECONDS = 15  # how long an ssh:// engine may take to answer
# The API version spoken to a TLS engine (Docker 19.03 and later answer it).
TLS_API_VERSION = "1.40"


@dataclass(frozen=True)
class Endpoint:
    """Where an environment's engine listens and how to reach it: a unix socket, or tcp
    with (mutual) TLS. An empty host is the server's own DOCKER_HOST, else its socket."""

    host: str = ""
    tls_ca: str = ""  # PEM certificates; the key is a secret (decrypted from the database)
    tls_cert: str = ""
    tls_key: str = field(default="", repr=False)
    # ssh://user@host[:port][/remote/docker.sock]: a key (and its passphrase), the host
    # keys to trust, or where to keep the one first seen.
    ssh_key: str = field(default="", repr=False)
    ssh_passphrase: str = field(default="", repr=False)
    ssh_known_hosts: str = ""
    ssh_learned_hosts: str = ""


@contextmanager
def _tls_files(endpoint: Endpoint) -> Iterator[Path]:
    """The TLS material as files (docker and requests read paths), in a private
    directory that is gone when the block ends: the key is not left on disk."""
    settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
    where = Path(tempfile.mkdtemp(prefix="engine-", dir=settings.RUN_DIR))  # 0700
    try:
        for name, pem in (("ca.pem", endpoint.tls_ca), ("cert.pem", endpoint.tls_cert), ("key.pem", endpoint.tls_key)):
            path = where / name
            path.touch(mode=0o600)
            path.write_text(pem)
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


@contextmanager
def _ssh_tunnel(endpoint: Endpoint) -> Iterator[Endpoint]:
    """An ssh:// engine as a local unix socket, forwarded by ssh for as long as the block
    runs: the docker SDK and compose then speak to it like any socket, and the key
    never leaves a private run directory."""
    target = urlsplit(endpoint.host)
    settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="engine-", dir=settings.RUN_DIR))
    if len(str(tmp)) > 80:  # a unix socket's path has room for ~107 bytes
        shutil.rmtree(tmp)
        tmp = Path(tempfile.mkdtemp(prefix="dh-engine-"))
    local = tmp / "docker.sock"
    learned = Path(endpoint.ssh_learned_hosts) if endpoint.ssh_learned_hosts else None
    options = ssh_options(
        tmp, private_key=endpoint.ssh_key, known_hosts=endpoint.ssh_known_hosts, learned_hosts_file=learned
    )
    forward = f"{local}:{target.path or '/var/run/docker.sock'}"
    args = ["ssh", *options, "-o", "ExitOnForwardFailure=yes", "-o", "ConnectTimeout=10", "-N", "-L", forward]
    args += ["-p", str(target.port or 22), "-l", target.username or "root", "--", target.hostname or ""]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "SSH_ASKPASS": str(write_askpass(tmp)),
        "SSH_ASKPASS_REQUIRE": "force",
        "DOCKHAND_GIT_SECRET": endpoint.ssh_passphrase,
    }
    proc = subprocess.Popen(
        args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + SSH_CONNECT_SECONDS
        while not local.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                said = (proc.communicate()[1] or "").strip().splitlines()
                raise EngineError(f"Cannot reach the Docker engine over ssh: {said[-1] if said else 'timed out'}")
            time.sleep(0.02)
        yield Endpoint(host=f"unix://{local}")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _reachable(endpoint: Endpoint) -> Iterator[Endpoint]:
    """The endpoint itself, or for ssh:// a local socket forwarded to it."""
    if endpoint.host.startswith("ssh://"):
        with _ssh_tunnel(endpoint) as local:
            yield local
    else:
        yield endpoint


@contextmanager
def cli_env(endpoint: Endpoint) -> Iterator[dict[str, str]]:
    """The DOCKER_* variables for the docker CLI and compose to reach `endpoint`, valid
    while the block runs."""
    with _reachable(endpoint) as reachable, _cli_env(reachable) as env:
        yield env


@contextmanager
def _cli_env(endpoint: Endpoint) -> Iterator[dict[str, str]]:
    if not endpoint.host:
        yield {}
    elif not endpoint.tls_cert:
        yield {"DOCKER_HOST": endpoint.host}
    else:
        with _tls_files(endpoint) as where:
            yield {"DOCKER_HOST": endpoint.host, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(where)}


@contextmanager
def _client(endpoint: Endpoint) -> Iterator[docker.DockerClient]:
    """A client for one call, closed (and its TLS files or tunnel removed) after it."""
    with ExitStack() as cleanup:
        endpoint = cleanup.enter_context(_reachable(endpoint))
        try:
            if not endpoint.host:
                client = docker.from_env(timeout=10)
            elif endpoint.tls_cert:
                where = cleanup.enter_context(_tls_files(endpoint))
                tls = TLSConfig(
                    client_cert=(str(where / "cert.pem"), str(where / "key.pem")),
                    ca_cert=str(where / "ca.pem") if endpoint.tls_ca else None,
                    verify=bool(endpoint.tls_ca),
                )
                # requests lets REQUESTS_CA_BUNDLE (set on many hosts and images) win
                # over a session's own CA (psf/requests#3829), so the session must not
                # read the environment, and that can only be set after construction:
                # a fixed API version keeps the constructor from calling the engine.
                client = docker.DockerClient(base_url=endpoint.host, tls=tls, timeout=10, version=TLS_API_VERSION)
                client.api.trust_env = False
            else:
                client = docker.DockerClient(base_url=endpoint.host, timeout=10)
        except _FAILURES as exc:
            raise EngineError(f"Cannot reach the Docker engine: {exc}") from exc
        cleanup.callback(client.close)
        yield client


def ping(endpoint: Endpoint) -> str:
    """What the engine runs ("Docker 24.0.7, API 1.43"); EngineError unless it answers."""
    try:
        with _client(endpoint) as client:
            found = client.version()
    except _FAILURES as exc:
        raise EngineError(f"Cannot reach the Docker engine: {exc}") from exc
    return f"Docker {found.get('Version', '?')}, API {found.get('ApiVersion', '?')}"


def _ports(listed: list[dict[str, Any]]) -> list[str]:
    """`host:port->port/proto` per published binding, `port/proto` for one only exposed,
    ordered by the container port as `docker inspect` orders them."""
    out: list[tuple[str, str]] = []
    for p in listed:
        inner = f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
        published = p.get("PublicPort")
        host = p.get("IP") or "*"  # published on every interface
        out.append((inner, f"{host}:{published}->{inner}" if published else inner))
    return [shown for _, shown in sorted(out, key=lambda pair: pair[0])]


# The health and exit code the engine writes into a listed container's status line
# (`Up 2 minutes (healthy)`, `Up 1 second (health: starting)`, `Exited (137) 3 s ago`),
# as `docker ps` shows them.
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_EXITED = re.compile(r"^Exited \((-?\d+)\)")


def _info(listed: dict[str, Any]) -> ContainerInfo:
    labels = listed.get("Labels") or {}
    status = listed.get("Status") or ""
    health = _HEALTH.search(status)
    exited = _EXITED.match(status)
    return ContainerInfo(
        id=listed.get("Id") or "",
        name=((listed.get("Names") or [""])[0]).lstrip("/"),
        service=labels.get(SERVICE_LABEL, ""),
        image=listed.get("Image") or "",
        state=listed.get("State") or "",
        project=labels.get(PROJECT_LABEL, ""),
        health=health.group(1).removeprefix("health: ") if health else "",
        exit_code=int(exited.group(1)) if exited else 0,
        image_id=listed.get("ImageID") or "",
        config_hash=labels.get(CONFIG_HASH_LABEL, ""),
        ports=_ports(listed.get("Ports") or []),
    )


def containers(endpoint: Endpoint, projects: Iterable[str] | None = None) -> list[ContainerInfo]:
    """All compose containers (running or not) of the given projects, in one engine call
    (a list page asks once per engine, not once per stack). `None`: every project.

    The engine's list answers everything shown here; the SDK's `containers.list` would
    inspect each container besides, one call per container on the host."""
    wanted = None if projects is None else set(projects)
    label = PROJECT_LABEL if wanted is None or len(wanted) != 1 else f"{PROJECT_LABEL}={next(iter(wanted))}"
    try:
        with _client(endpoint) as client:
            listed = client.api.containers(all=True, filters={"label": label})
    except _FAILURES as exc:
        raise EngineError(f"Cannot list containers: {exc}") from exc
    infos = [_info(c) for c in listed if (c.get("Labels") or {}).get(ONEOFF_LABEL) != "True"]
    return [i for i in infos if wanted is None or i.project in wanted]


def project_containers(endpoint: Endpoint, project: str) -> list[ContainerInfo]:
    """All containers (running or not) of one compose project."""
    return containers(endpoint, [project])


STACK_LABEL = "com.docker.stack.namespace"


@dataclass(frozen=True)
class ServiceInfo:
    """A swarm service of a stack, with its replicas (what a swarm stack shows)."""

    name: str  # <namespace>_<service>
    service: str
    namespace: str
    image: str
    desired: int
    running: int
    error: str = ""  # the newest task's error, if it failed
    updating: bool = False  # a rolling update (or its rollback) is under way

    @property
    def converged(self) -> bool:
        return self.running >= self.desired and not self.updating


def services(endpoint: Endpoint, namespaces: Iterable[str] | None = None) -> list[ServiceInfo]:
    """The swarm services of the given stacks (None: every stack), with running tasks:
    two engine calls however many services (the services, then all their tasks)."""
    wanted = None if namespaces is None else set(namespaces)
    label = STACK_LABEL if wanted is None or len(wanted) != 1 else f"{STACK_LABEL}={next(iter(wanted))}"
    try:
        with _client(endpoint) as client:
            listed = [
                s
                for s in client.services.list(filters={"label": label})
                if wanted is None or _spec(s).get("Labels", {}).get(STACK_LABEL) in wanted
            ]
            tasks = client.api.tasks(filters={"service": [s.id for s in listed]}) if listed else []
    except _FAILURES as exc:
        raise EngineError(f"Cannot list swarm services: {exc}") from exc
    by_service: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        by_service.setdefault(task.get("ServiceID", ""), []).append(task)
    return [_service_info(s, by_service.get(s.id or "", [])) for s in listed]


def _spec(service: Any) -> dict[str, Any]:
    return dict(service.attrs.get("Spec") or {})


def _service_info(service: Any, tasks: list[dict[str, Any]]) -> ServiceInfo:
    spec = _spec(service)
    namespace = (spec.get("Labels") or {}).get(STACK_LABEL, "")
    running = [t for t in tasks if (t.get("Status") or {}).get("State") == "running"]
    failed = [t for t in tasks if (t.get("Status") or {}).get("Err")]
    newest = max(failed, key=lambda t: t.get("UpdatedAt", ""), default=None)
    replicated = (spec.get("Mode") or {}).get("Replicated")
    return ServiceInfo(
        name=spec.get("Name", service.name or ""),
        service=spec.get("Name", "").removeprefix(f"{namespace}_"),
        namespace=namespace,
        image=((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "").split("@")[0],
        desired=int(replicated.get("Replicas", 1)) if replicated is not None else len(running),
        running=len(running),
        error=(newest.get("Status") or {}).get("Err", "") if newest else "",
        updating=(service.attrs.get("UpdateStatus") or {}).get("State", "") in ("updating", "rollback_started"),
    )
