"""What a stack may ask of its engine, per environment policy, named like Kubernetes' Pod
Security Standards:

- `privileged`: anything the compose file says (the engine's host is the stack's);
- `baseline`: nothing that amounts to root on the engine's host: no privileged mode,
  host or other containers' namespaces, added capabilities beyond Docker's defaults,
  loosened security options, devices, engine socket, bind-type volume drivers, and host
  paths only inside the working copy or under the environment's `hostPaths`;
- `restricted`: baseline, and no host paths at all (named volumes and the working copy
  only), no capability but NET_BIND_SERVICE added, no external volumes, no GPUs, no
  other runtimes, cgroup parents or external links.

Checked on the resolved model (`compose config`), so every spelling compose accepts is
seen as compose runs it. Every rule is an allowlist: a key, a value or a driver that is
not known to be harmless is refused, naming the service, the field and the rule.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from stacks.services.deploy_errors import DeployError

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"

# Docker's default capability set: adding one of these changes nothing.
DEFAULT_CAPS = frozenset(
    "AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD NET_BIND_SERVICE NET_RAW SETFCAP SETGID SETPCAP "
    "SETUID SYS_CHROOT".split()
)
RESTRICTED_CAPS = frozenset({"NET_BIND_SERVICE"})

# Service keys that cannot give a container more of the host than a plain container
# has (resource limits, naming, wiring inside the project, health, logging, …).
_HARMLESS = frozenset(
    "annotations attach blkio_config cap_drop command configs container_name cpu_count cpu_percent cpu_period "
    "cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares cpus cpuset depends_on deploy develop dns dns_opt "
    "dns_search domainname entrypoint env_file environment expose extra_hosts group_add healthcheck hostname "
    "image init label_file labels links logging mac_address mem_limit mem_reservation mem_swappiness "
    "memswap_limit networks oom_kill_disable oom_score_adj pids_limit platform ports profiles pull_policy "
    "read_only restart scale secrets shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls "
    "tmpfs tty ulimits user working_dir".split()
)
# Keys checked below (each has its rule); any other key is refused outside `privileged`.
_CHECKED = frozenset(
    "build cap_add cgroup cgroup_parent device_cgroup_rules devices external_links gpus ipc network_mode pid "
    "post_start pre_stop privileged provider runtime security_opt use_api_socket userns_mode uts volumes "
    "volumes_from".split()
)
_SECURITY_OPTS = frozenset({"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"})
_NETWORK_DRIVERS = {BASELINE: {"", "bridge", "overlay", "macvlan", "ipvlan"}, RESTRICTED: {"", "bridge", "overlay"}}


def check_policy(level: str, model: Mapping[str, Any], *, root: Path, host_paths: Sequence[str] = ()) -> None:
    """DeployError naming the first thing of the resolved `model` that `level` does not
    allow. `root`: the working copy (its paths are the stack's own)."""
    if level == PRIVILEGED:
        return
    for problem in _problems(level, model, root.resolve(), [posixpath.normpath(p) for p in host_paths]):
        raise DeployError(f"{problem}: not allowed under this environment's {level} policy")


def _problems(level: str, model: Mapping[str, Any], root: Path, host_paths: list[str]) -> Iterator[str]:
    for name, service in (model.get("services") or {}).items():
        for key, value in service.items():
            where = f"service {name}: {key}"
            if key in _HARMLESS or key.startswith("x-"):
                if key == "deploy":
                    yield from _deploy(level, where, value)
                continue
            if key not in _CHECKED:
                yield f"{where} (a setting this policy does not know)"
                continue
            yield from _service_key(level, where, key, value, root, host_paths)
    for name, volume in (model.get("volumes") or {}).items():
        yield from _volume(level, f"volume {name}", volume or {})
    for name, network in (model.get("networks") or {}).items():
        yield from _network(level, f"network {name}", network or {})


def _service_key(level: str, where: str, key: str, value: Any, root: Path, host_paths: list[str]) -> Iterator[str]:
    if key == "privileged":
        if value:
            yield f"{where}: true"
    elif key == "cap_add":
        allowed = DEFAULT_CAPS if level == BASELINE else RESTRICTED_CAPS
        extra = sorted({str(c).upper().removeprefix("CAP_") for c in value} - allowed)
        if extra:
            yield f"{where} {', '.join(extra)}"
    elif key == "security_opt":
        loosened = [str(o) for o in value if str(o).lower() not in _SECURITY_OPTS]
        if loosened:
            yield f"{where} {', '.join(loosened)} (only no-new-privileges)"
    elif key in ("pid", "ipc", "network_mode", "userns_mode", "cgroup", "uts"):
        yield from _namespace(where, key, str(value or ""))
    elif key == "volumes":
        for mount in value:
            yield from _mount(level, where, mount, root, host_paths)
    elif key in ("devices", "device_cgroup_rules", "volumes_from", "use_api_socket", "provider"):
        if value:
            yield where
    elif key in ("post_start", "pre_stop"):
        if any(isinstance(hook, dict) and hook.get("privileged") for hook in value):
            yield f"{where}: a privileged hook"
    elif key == "build":
        yield from _build(where, value)
    elif key in ("gpus", "external_links", "cgroup_parent"):
        if value and level == RESTRICTED:
            yield where
    elif key == "runtime":
        if level == RESTRICTED and str(value) not in ("", "runc"):
            yield f"{where} {value}"


def _namespace(where: str, key: str, value: str) -> Iterator[str]:
    """The container's own namespaces, or (pid, ipc, network) one of its project's
    services: never the host's, nor another container's."""
    own = {
        "network_mode": {"", "bridge", "default", "none"},
        "ipc": {"", "private", "shareable", "none"},
        "cgroup": {"", "private"},
    }.get(key, {""})
    if value in own or (key in ("pid", "ipc", "network_mode") and value.startswith("service:")):
        return
    yield f"{where}: {value} (the host's or another container's namespace)"


def _mount(level: str, where: str, mount: Any, root: Path, host_paths: list[str]) -> Iterator[str]:
    kind = str(mount.get("type") or "") if isinstance(mount, dict) else "bind"
    source = str(mount.get("source") or "") if isinstance(mount, dict) else str(mount).split(":", 1)[0]
    if kind in ("volume", "tmpfs", "image"):
        return
    if kind != "bind":
        yield f"{where}: {kind} mounts"
        return
    if _inside(source, root):
        return
    if level == BASELINE and any(_under(posixpath.normpath(source), allowed) for allowed in host_paths):
        return
    allowed = "named volumes and paths inside the repository" + (
        f", or under {', '.join(host_paths)}" if level == BASELINE and host_paths else ""
    )
    yield f"{where}: host path {source} (only {allowed})"


def _inside(source: str, root: Path) -> bool:
    """Whether a bind source is in the working copy, symlinks followed (a link in the
    repository to / is the host's /)."""
    try:
        return Path(source).resolve().is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _build(where: str, build: Any) -> Iterator[str]:
    if not isinstance(build, dict):
        return
    if build.get("privileged"):
        yield f"{where}: privileged"
    if build.get("entitlements"):
        yield f"{where}: entitlements {', '.join(map(str, build['entitlements']))}"
    if str(build.get("network") or "") == "host":
        yield f"{where}: network host"


def _deploy(level: str, where: str, deploy: Any) -> Iterator[str]:
    reservations = ((deploy or {}).get("resources") or {}).get("reservations") or {}
    if level == RESTRICTED and reservations.get("devices"):
        yield f"{where}: resources.reservations.devices"


def _volume(level: str, where: str, volume: Mapping[str, Any]) -> Iterator[str]:
    """A named volume: the engine's local driver, a plain volume or a tmpfs; never a
    bind of the host (`type: none, o: bind`) or a plugin's."""
    driver = str(volume.get("driver") or "local")
    if volume.get("external"):
        if level == RESTRICTED:
            yield f"{where}: external (another stack's data)"
        return
    if driver != "local":
        yield f"{where}: driver {driver}"
    opts = {str(k).lower(): str(v) for k, v in (volume.get("driver_opts") or {}).items()}
    if opts and opts.get("type", "").lower() != "tmpfs":
        yield f"{where}: driver_opts {', '.join(f'{k}={v}' for k, v in sorted(opts.items()))} (only a tmpfs)"


def _network(level: str, where: str, network: Mapping[str, Any]) -> Iterator[str]:
    name = str(network.get("name") or "")
    if network.get("external"):
        if name == "host":
            yield f"{where}: the host's network"
        return
    driver = str(network.get("driver") or "")
    if driver not in _NETWORK_DRIVERS[level]:
        yield f"{where}: driver {driver}"
