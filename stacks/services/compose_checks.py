"""Repository contents are untrusted: what a compose project may reference.

Two passes. Before compose runs, the raw files are read here (size and alias limits,
then every local file they pull in: `include`, `extends`, `env_file`, secrets and
configs) so that compose never opens a file outside the working copy, e.g.
`/root/.ssh/id_rsa` quoted back in a parse error. After `compose config`, the
resolved (interpolated) model is checked again, and against the environment's policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from stacks.services.deploy_errors import DeployError

MAX_FILE_BYTES = 1024 * 1024
# Nodes a document may expand to once aliases are followed; real compose files have a
# few thousand at most, a "billion laughs" file has billions from a few lines.
MAX_EXPANDED_NODES = 200_000
_REMOTE_BUILD = ("http://", "https://", "git://", "git@", "ssh://")
_DOCKER_SOCKETS = {"/var/run/docker.sock", "/run/docker.sock"}
_DANGEROUS_CAPS = {"ALL", "SYS_ADMIN", "CAP_SYS_ADMIN"}


def _inside(root: Path, base: Path, reference: str, what: str) -> Path:
    if "$" in reference:
        raise DeployError(f"{what} {reference!r} uses a variable; file references must be plain paths")
    target = (base / reference).resolve()
    if not target.is_relative_to(root):
        raise DeployError(f"{what} {reference!r} points outside the repository")
    return target


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes `node` stands for with every alias expanded (memoised, so a
    shared subtree costs one visit however often it is referenced)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_EXPANDED_NODES  # a node reached again while counting: a cycle
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[key] = size
    return size


def load_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file from the repository, refusing oversized files and alias bombs."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DeployError(f"{what} is {size} bytes; at most {MAX_FILE_BYTES} are read")
    text = path.read_text(errors="replace")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise DeployError(
                f"{what} expands to more than {MAX_EXPANDED_NODES} YAML nodes through aliases (a YAML bomb?)"
            )
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise DeployError(f"{what} is not valid YAML{where}") from exc


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _referenced(document: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(what, path, is_compose_file) for every local file a compose document names."""
    for entry in _as_list(document.get("include")):
        if isinstance(entry, str):
            yield "include", entry, True
        elif isinstance(entry, dict):
            for item in _as_list(entry.get("path")):
                yield "include", str(item), True
            for item in _as_list(entry.get("env_file")):
                yield "include env_file", str(item), False
    for name, service in (document.get("services") or {}).items():
        if not isinstance(service, dict):
            continue
        extends = service.get("extends")
        if isinstance(extends, dict) and extends.get("file"):
            yield f"service {name} extends.file", str(extends["file"]), True
        for item in _as_list(service.get("env_file")):
            path = item.get("path") if isinstance(item, dict) else item
            yield f"service {name} env_file", str(path), False
    for section in ("secrets", "configs"):
        for name, spec in (document.get(section) or {}).items():
            if isinstance(spec, dict) and spec.get("file"):
                yield f"{section[:-1]} {name} file", str(spec["file"]), False


def check_sources(root: Path, compose_file: Path) -> None:
    """Walk the compose file and everything it includes; refuse references that leave
    the working copy (before compose reads any of them)."""
    root = root.resolve()
    seen: set[Path] = set()
    pending = [compose_file]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        document = load_yaml(current, f"{current.relative_to(root)}")
        if not isinstance(document, dict):
            if current == compose_file:
                raise DeployError("the compose file does not contain a mapping")
            continue
        for what, reference, is_compose in _referenced(document):
            target = _inside(root, current.parent, reference, what)
            if target.is_file() and target.stat().st_size > MAX_FILE_BYTES:
                raise DeployError(f"{what} {reference!r} is larger than {MAX_FILE_BYTES} bytes")
            if is_compose and target.is_file():
                pending.append(target)


def check_model(root: Path, model: Mapping[str, Any], *, restricted: bool) -> None:
    """The resolved model: local files and build contexts stay inside the working copy;
    under a restricted policy, no service gets host-level powers."""
    root = root.resolve()
    for name, service in (model.get("services") or {}).items():
        for item in _as_list(service.get("env_file")):
            path = item.get("path") if isinstance(item, dict) else item
            if path and not Path(str(path)).resolve().is_relative_to(root):
                raise DeployError(f"service {name} env_file {path!r} points outside the repository")
        build = service.get("build")
        context = build.get("context") if isinstance(build, dict) else build
        if (
            context
            and not str(context).startswith(_REMOTE_BUILD)
            and not Path(str(context)).resolve().is_relative_to(root)
        ):
            raise DeployError(f"service {name} build context {context!r} points outside the repository")
        if restricted:
            _check_policy(name, service)
    for section in ("secrets", "configs"):
        for name, spec in (model.get(section) or {}).items():
            path = spec.get("file") if isinstance(spec, dict) else None
            if path and not Path(str(path)).resolve().is_relative_to(root):
                raise DeployError(f"{section[:-1]} {name} file {path!r} points outside the repository")


def _check_policy(name: str, service: Mapping[str, Any]) -> None:
    """The `restricted` policy: nothing that amounts to root on the host."""
    if service.get("privileged"):
        raise DeployError(f"service {name}: privileged is not allowed by this environment's policy")
    for key in ("network_mode", "pid", "ipc", "userns_mode", "uts"):
        if str(service.get(key) or "") == "host":
            raise DeployError(f"service {name}: {key}: host is not allowed by this environment's policy")
    caps = {str(c).upper() for c in _as_list(service.get("cap_add"))}
    if caps & _DANGEROUS_CAPS:
        raise DeployError(
            f"service {name}: cap_add {', '.join(sorted(caps & _DANGEROUS_CAPS))} is not allowed by this environment's policy"
        )
    if service.get("devices"):
        raise DeployError(f"service {name}: devices are not allowed by this environment's policy")
    for volume in _as_list(service.get("volumes")):
        source = str(volume.get("source") or "") if isinstance(volume, dict) else str(volume).split(":", 1)[0]
        kind = volume.get("type") if isinstance(volume, dict) else "bind"
        if kind == "bind" and (source.rstrip("/") == "" or source in _DOCKER_SOCKETS):
            raise DeployError(
                f"service {name}: volumes binding {source or '/'} are not allowed by this environment's policy"
            )
