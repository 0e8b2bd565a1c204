"""Everything dockhand asks the Docker engine directly (docker SDK), behind one module."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
from django.conf import settings
from docker.errors import APIError, DockerException, NotFound
from docker.tls import TLSConfig
from docker.utils import config as sdk_config
from docker.utils import kwargs_from_env
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

    error_code = "engine_unreachable"


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
    status: str = ""  # the engine's words, as `docker ps` shows them: "Up 2 minutes (healthy)"


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


def _no_config_file(config_path: str | None = None) -> None:
    """No docker config file, wherever the SDK would look (see below)."""
    return None


# The docker SDK reads the server user's docker config (config.json in DOCKER_CONFIG or
# ~/.docker) as each client is made, and again before a pull or a push: its logins and
# credential helpers, its proxies (put into containers it creates) and HTTP headers
# (sent with every engine request). None of it is the stacks': their registry logins
# come from a DOCKER_CONFIG made for each run (registry.docker_config). A client finds
# those files through this function (dockhand uses the SDK nowhere but here); the
# context lookup of `docker.from_env` does not, so it is not used (`_client`).
sdk_config.find_config_file = _no_config_file


# The API version each engine speaks, asked at most once a minute, not before every
# call: the SDK's "auto" asks (GET /version) as each client is made, and a client is
# made per call, so a stack's detail cost the engine two requests instead of one
# (benchmark #10). An engine replaced within the minute by an older one refuses the
# version once: any failure but a plain "no such object" drops what was known.
VERSION_KEPT = 60.0
_versions: dict[str, tuple[str, float]] = {}


def _known_version(host: str) -> str | None:
    known = _versions.get(host)
    return known[0] if known and time.monotonic() - known[1] < VERSION_KEPT else None


@contextmanager
def _client(endpoint: Endpoint) -> Iterator[docker.DockerClient]:
    """A client for one call, closed (and its TLS files or tunnel removed) after it."""
    host = endpoint.host
    version = _known_version(host)
    with ExitStack() as cleanup:
        endpoint = cleanup.enter_context(_reachable(endpoint))
        try:
            if not endpoint.host:
                # DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) or the default
                # socket, as compose is given them: not `from_env`, which would follow
                # a `currentContext` of the server user's config.json elsewhere.
                client = docker.DockerClient(**kwargs_from_env(), timeout=10, version=version)
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
                client = docker.DockerClient(base_url=endpoint.host, timeout=10, version=version)
        except _FAILURES as exc:
            _versions.pop(host, None)
            raise EngineError(f"Cannot reach the Docker engine: {exc}") from exc
        cleanup.callback(client.close)
        if version is None:
            _versions[host] = (client.api.api_version, time.monotonic())
        try:
            yield client
        except _FAILURES as exc:
            if not isinstance(exc, NotFound):
                _versions.pop(host, None)
            raise


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
        status=status,
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


def repo_digests(endpoint: Endpoint, image_ids: Iterable[str]) -> dict[str, list[str]]:
    """Per image id, the `repo@sha256:…` names the engine knows it by (pulled or pushed
    images have them; a local build has none). An image gone meanwhile is left out."""
    found: dict[str, list[str]] = {}
    try:
        with _client(endpoint) as client:
            for image_id in set(image_ids):
                with suppress(NotFound):
                    found[image_id] = list(client.api.inspect_image(image_id).get("RepoDigests") or [])
    except _FAILURES as exc:
        raise EngineError(f"Cannot inspect images: {exc}") from exc
    return found


# One container of a project: its log, what it uses, start / stop / restart.

CONTAINER_ACTIONS = ("start", "stop", "restart")
DEFAULT_STOP_SECONDS = 10  # the engine's own grace when a container sets none
MAX_LOG_LINES = 100_000  # the most lines a read, or a follow's first lines, may ask for
_LONGEST_LINE = 64 * 1024  # a program that never ends its line still shows, in pieces


def _said(exc: Exception) -> str:
    """What the engine said (`No such container: …`), without the request's URL."""
    return str(exc.explanation) if isinstance(exc, APIError) and exc.explanation else str(exc)


@dataclass(frozen=True)
class LogLine:
    """A line of a container's log (stdout and stderr as written), with the time the
    engine took it: RFC 3339 in UTC to the nanosecond, which resumes a follow after it."""

    time: str
    text: str


def _log_line(raw: bytes) -> LogLine:
    stamp, _, text = raw.decode("utf-8", errors="replace").partition(" ")
    return LogLine(stamp, text.removesuffix("\r"))


def _lines(chunks: Iterable[bytes]) -> Iterator[LogLine]:
    """Whole lines out of the engine's chunks: a chunk is one write of the program,
    part of a line or several."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        *whole, rest = rest.split(b"\n")
        if len(rest) > _LONGEST_LINE:
            whole.append(rest)
            rest = b""
        for raw in whole:
            yield _log_line(raw)
    if rest:
        yield _log_line(rest)


def log_time_key(stamp: str) -> str:
    """A log line's time as text that sorts as the time does (the engine drops the
    trailing zeros of the nanoseconds)."""
    whole, _, fraction = stamp.removesuffix("Z").partition(".")
    return f"{whole}.{fraction.ljust(9, '0')}"


def container_logs(endpoint: Endpoint, container_id: str, *, tail: int, since: datetime | None = None) -> list[LogLine]:
    """The last `tail` lines of a container's log (at most MAX_LOG_LINES), those
    written at or after `since` if given."""
    try:
        with _client(endpoint) as client:
            raw = client.api.logs(container_id, timestamps=True, tail=min(tail, MAX_LOG_LINES), since=since)
    except _FAILURES as exc:
        raise EngineError(f"Cannot read the container's log: {_said(exc)}") from exc
    return list(_lines([raw]))


class LogFollow:
    """A container's log as it is written: iterating yields the last `tail` lines (or,
    with `after`, a LogLine.time, every line after that one), then each new line, until
    the container stops or `stop()` is called. `stop()` may come from any thread: it
    closes the connection the iteration waits on."""

    def __init__(self, endpoint: Endpoint, container_id: str, *, tail: int, after: str = "") -> None:
        self.endpoint, self.container_id = endpoint, container_id
        self.tail, self.after = min(tail, MAX_LOG_LINES), after
        self._stopped = threading.Event()
        self._stream: Any = None

    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            with suppress(Exception):  # closed already, by the iteration ending
                stream.close()

    def __iter__(self) -> Iterator[LogLine]:
        # The engine takes whole seconds: ask from the second of `after`, skip up to it.
        since = int(datetime.fromisoformat(self.after).timestamp()) if self.after else None
        after = log_time_key(self.after) if self.after else ""
        try:
            with _client(self.endpoint) as client:
                self._stream = client.api.logs(
                    self.container_id,
                    stream=True,
                    follow=True,
                    timestamps=True,
                    tail=MAX_LOG_LINES if since else self.tail,
                    since=since,
                )
                try:
                    for line in _lines(self._stream):
                        if self._stopped.is_set():
                            return
                        if not after or log_time_key(line.time) > after:
                            yield line
                finally:
                    with suppress(Exception):
                        self._stream.close()
        except EngineError:
            raise
        except Exception as exc:  # the SDK's, requests', urllib3's or the socket's own
            if not self._stopped.is_set():  # else: our own stop() closed the connection
                raise EngineError(f"Cannot follow the container's log: {_said(exc)}") from exc


@dataclass(frozen=True)
class ContainerStats:
    """What a running container uses now, as `docker stats` reads it."""

    started_at: datetime | None
    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int


def _time(stamp: str | None) -> datetime | None:
    found = datetime.fromisoformat(stamp) if stamp else None
    return found if found is not None and found.year > 1 else None  # 0001-01-01: never


def _usage(stats: dict[str, Any], started_at: datetime | None) -> ContainerStats:
    """CPU and memory as the docker CLI computes them: CPU time over the host's in the
    engine's last second, times the CPUs; memory less the page cache it may drop."""
    cpu, before = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (before.get("cpu_usage") or {}).get("total_usage", 0)
    host = cpu.get("system_cpu_usage", 0) - before.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    memory = stats.get("memory_stats") or {}
    usage, counted = memory.get("usage", 0), memory.get("stats") or {}
    cache = counted.get("total_inactive_file", counted.get("inactive_file", 0))  # cgroup v1, v2
    return ContainerStats(
        started_at=started_at,
        cpu_percent=round(used / host * cpus * 100, 2) if used > 0 and host > 0 else 0.0,
        memory_bytes=usage - cache if cache < usage else usage,
        memory_limit_bytes=memory.get("limit", 0),
    )


def container_stats(endpoint: Endpoint, container_ids: Sequence[str]) -> dict[str, ContainerStats]:
    """Start time, CPU and memory of each running container of `container_ids` (the
    others are left out). The engine measures CPU over a second, so the containers are
    asked side by side, not one after another."""

    def one(client: docker.DockerClient, container_id: str) -> ContainerStats | None:
        try:
            state = client.api.inspect_container(container_id).get("State") or {}
            if not state.get("Running"):
                return None
            return _usage(client.api.stats(container_id, stream=False), _time(state.get("StartedAt")))
        except NotFound:
            return None  # removed meanwhile

    if not container_ids:
        return {}
    try:
        with _client(endpoint) as client, ThreadPoolExecutor(max_workers=min(8, len(container_ids))) as pool:
            found = list(pool.map(lambda container_id: one(client, container_id), container_ids))
    except _FAILURES as exc:
        raise EngineError(f"Cannot read the containers' usage: {_said(exc)}") from exc
    return {cid: stats for cid, stats in zip(container_ids, found, strict=True) if stats is not None}


def container_act(endpoint: Endpoint, container_id: str, action: str) -> None:
    """Start, stop or restart one container. A stop gives the container its own grace
    (compose's `stop_grace_period`) before the engine kills it, as compose would."""
    if action not in CONTAINER_ACTIONS:
        raise ValueError(f"not a container action: {action}")
    try:
        with _client(endpoint) as client:
            if action == "start":
                client.api.start(container_id)
                return
            grace = (client.api.inspect_container(container_id).get("Config") or {}).get("StopTimeout")
            seconds = DEFAULT_STOP_SECONDS if grace is None else int(grace)
            getattr(client.api, action)(container_id, timeout=seconds)
    except _FAILURES as exc:
        raise EngineError(f"Cannot {action} the container: {_said(exc)}") from exc


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
    job: bool = False  # `deploy.mode: replicated-job`: runs to completion, is run again by hand

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
        job="ReplicatedJob" in (spec.get("Mode") or {}),
    )


# What is done to one swarm service by hand: scale it, restart its tasks, run a job again.


def service_scale(endpoint: Endpoint, name: str, replicas: int) -> None:
    """Set a replicated service's replicas (until the next `docker stack deploy`)."""
    try:
        with _client(endpoint) as client:
            if not client.services.get(name).scale(replicas):
                raise EngineError(f"The swarm did not scale {name}")
    except _FAILURES as exc:
        raise EngineError(f"Cannot scale {name}: {_said(exc)}") from exc


def service_redo(endpoint: Endpoint, name: str) -> None:
    """`docker service update --force`: every task is replaced (a rolling restart, as the
    service's update_config orders it); a job service runs once more."""
    try:
        with _client(endpoint) as client:
            # As the CLI does it: the spec as the engine holds it, with ForceUpdate counted
            # up. The SDK's own update rebuilds the spec and sends an UpdateConfig, which
            # the engine refuses for a job ("Jobs may not have an update config").
            current = client.api.inspect_service(name)
            spec = current["Spec"]
            spec["TaskTemplate"]["ForceUpdate"] = int(spec["TaskTemplate"].get("ForceUpdate") or 0) + 1
            url = client.api._url("/services/{0}/update", current["ID"])
            answer = client.api._post_json(url, data=spec, params={"version": current["Version"]["Index"]})
            client.api._raise_for_status(answer)
    except _FAILURES as exc:
        raise EngineError(f"Cannot restart {name}: {_said(exc)}") from exc


@dataclass(frozen=True)
class Rollout:
    """Where a service stands after a scale, restart or run: `done` when it converged
    (a job: when its current run completed), `error` when it cannot (a task failed)."""

    done: bool
    error: str = ""
    detail: str = ""  # "2/3 running", "0/1 complete"


_FAILED = ("failed", "rejected")


def service_rollout(endpoint: Endpoint, name: str) -> Rollout:
    """Whether the service's tasks are what its spec asks for now: a replicated service
    runs its replicas, each task of the latest restart (its ForceUpdate counter); a job
    completed every task of its latest run (its JobIteration)."""
    try:
        with _client(endpoint) as client:
            service = client.services.get(name)
            tasks = client.api.tasks(filters={"service": service.id})
    except _FAILURES as exc:
        raise EngineError(f"Cannot read {name}: {_said(exc)}") from exc
    spec, attrs = _spec(service), service.attrs
    mode = spec.get("Mode") or {}
    state = (attrs.get("UpdateStatus") or {}).get("State", "")
    if state in ("paused", "rollback_paused", "rollback_completed"):
        return Rollout(True, (attrs.get("UpdateStatus") or {}).get("Message", "") or f"update {state}")
    if "ReplicatedJob" in mode:
        run = ((attrs.get("JobStatus") or {}).get("JobIteration") or {}).get("Index")
        current = [t for t in tasks if (t.get("JobIteration") or {}).get("Index") == run]
        wanted = int((mode["ReplicatedJob"] or {}).get("TotalCompletions") or 1)
        failed = [t for t in current if (t.get("Status") or {}).get("State") in _FAILED]
        if failed:
            status = failed[0].get("Status") or {}
            return Rollout(True, status.get("Err") or f"a task of {name} {status.get('State')}")
        complete = sum(1 for t in current if (t.get("Status") or {}).get("State") == "complete")
        return Rollout(complete >= wanted, detail=f"{complete}/{wanted} complete")
    force = ((spec.get("TaskTemplate") or {}).get("ForceUpdate")) or 0
    current = [t for t in tasks if t.get("DesiredState") == "running"]
    running = [t for t in current if (t.get("Status") or {}).get("State") == "running"]
    fresh = [t for t in running if ((t.get("Spec") or {}).get("ForceUpdate") or 0) == force]
    wanted = int(((mode.get("Replicated") or {}).get("Replicas")) or 0) if "Replicated" in mode else len(current)
    done = len(fresh) == wanted == len(running) and state not in ("updating", "rollback_started")
    return Rollout(done, detail=f"{len(fresh)}/{wanted} running")
