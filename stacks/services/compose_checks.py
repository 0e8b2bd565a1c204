"""Repository contents are untrusted: what a compose project may reference.

Two passes. Before compose runs, the raw files are read here (size and alias limits,
then every local file they pull in: `include` with its project folder, env files and
`.env`, `extends`, `env_file`, `label_file`, secrets and configs), each resolved
against the folder compose itself uses, so that compose never opens a file outside
the working copy, e.g. `/root/.ssh/id_rsa` quoted back in a parse error or a server
dotenv folded into a container's environment. After `compose config`, the resolved
(interpolated) model is checked again (build contexts, dockerfiles, additional
contexts: what the builder reads); `policy.py` then checks it against the environment's
policy.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stacks.services.deploy_errors import DeployError

MAX_FILE_BYTES = 1024 * 1024
# Nodes a document may expand to once aliases are followed; real compose files have a
# few thousand at most, a "billion laughs" file has billions from a few lines.
MAX_EXPANDED_NODES = 200_000
# Compose files one project may load (includes and extends, each in its own folder):
# a symlink to `.` lets a file include itself under ever longer names.
MAX_COMPOSE_FILES = 100
_REMOTE_BUILD = ("http://", "https://", "git://", "git@", "ssh://")


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
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DeployError(f"{what} is {size} bytes; at most {MAX_FILE_BYTES} are read")
        text = path.read_text(errors="replace")
    except OSError as exc:  # e.g. too many links on the way, as compose would find too
        raise DeployError(f"{what} cannot be read: {exc.strerror}") from exc
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


@dataclass(frozen=True)
class _Context:
    """Where compose resolves the relative paths of one compose file it loads.

    `folder` is spelled as compose spells it (joined, never symlink-followed).
    `floating`: compose's own record of that folder is relative, and for an `include`'s
    `env_file` and `project_directory` compose joins it to its current directory, which
    is the server's, not the repository's. `extended`: loaded for `extends`, whose
    `include` compose skips."""

    folder: Path
    floating: bool = False
    extended: bool = False


def _located(root: Path, base: Path, reference: str, what: str) -> tuple[Path, Path]:
    """(path as compose spells it, path it opens) of `reference` from `base`, refusing
    anything that leaves the working copy or that compose would not read as a plain path."""
    if "$" in reference:
        raise DeployError(f"{what} {reference!r} uses a variable; file references must be plain paths")
    if reference.startswith("~"):  # compose expands it to the server's home folder
        raise DeployError(f"{what} {reference!r} uses the home folder; file references must be in the repository")
    if re.match(r".:|\\", reference):  # kept as is by compose, so relative to its current directory
        raise DeployError(f"{what} {reference!r} is a Windows path; file references must be in the repository")
    # Compose joins and cleans the text first (`a/link/../b` is `a/b`), then opens it.
    spelled = Path(os.path.normpath(os.path.join(base, reference)))
    try:
        target = spelled.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise DeployError(f"{what} {reference!r} cannot be resolved (a symlink loop?)") from exc
    if not target.is_relative_to(root):
        raise DeployError(f"{what} {reference!r} points outside the repository")
    return spelled, target


def _read_file(root: Path, base: Path, reference: str, what: str) -> None:
    """A file compose reads whole (env and label files): inside, and not oversized."""
    _, target = _located(root, base, reference, what)
    if target.is_file() and target.stat().st_size > MAX_FILE_BYTES:
        raise DeployError(f"{what} {reference!r} is larger than {MAX_FILE_BYTES} bytes")


def _compose_file(root: Path, base: Path, reference: str, what: str) -> Path:
    """An included or extended compose file: a file of the repository (nothing remote)."""
    spelled, target = _located(root, base, reference, what)
    if not target.is_file():
        raise DeployError(f"{what} {reference!r} is not a file in the repository")
    return spelled


def _shown(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _included(root: Path, shown: str, entry: Any, context: _Context) -> Iterator[tuple[Path, _Context]]:
    """The files one `include` entry loads, in the context compose loads them with; its
    env files (given, or the `.env` of its project folder) checked on the way."""
    entry = {"path": entry} if isinstance(entry, str) else entry if isinstance(entry, dict) else {}
    paths = [_compose_file(root, context.folder, str(p), "include") for p in _as_list(entry.get("path"))]
    if not paths:
        return
    directory = str(entry.get("project_directory") or "")
    if not directory:
        folder = paths[0].parent
    else:
        if context.floating and not os.path.isabs(directory):
            raise DeployError(
                f"include project_directory {directory!r} in {shown}: in an included file compose resolves it "
                "against its own current folder, not the repository; include from the stack's compose file"
            )
        folder, target = _located(root, context.folder, directory, "include project_directory")
        if not target.is_dir():
            raise DeployError(f"include project_directory {directory!r} is not a folder of the repository")
    env_files = [str(f) for f in _as_list(entry.get("env_file"))]
    for env_file in (f for f in env_files if f != "/dev/null"):
        if context.floating and not os.path.isabs(env_file):
            raise DeployError(
                f"include env_file {env_file!r} in {shown}: in an included file compose resolves it "
                "against its own current folder, not the repository; include from the stack's compose file"
            )
        _read_file(root, context.folder, env_file, "include env_file")
    if not env_files:
        _check_dotenv(root, folder)
    inner = _Context(folder, floating=not os.path.isabs(directory))
    for path in paths:
        yield path, inner


def _check_dotenv(root: Path, folder: Path) -> None:
    """The `.env` compose reads by itself in an included project's folder (when it is a
    file): inside the working copy and not oversized, like the main project's."""
    dotenv = folder / ".env"
    what = ".env file"
    shown = _shown(root, dotenv)
    try:
        target = dotenv.resolve()
    except (OSError, RuntimeError) as exc:
        raise DeployError(f"{what} {shown!r} cannot be resolved (a symlink loop?)") from exc
    if not target.is_relative_to(root):
        raise DeployError(f"{what} {shown!r} points outside the repository")
    if target.is_file() and target.stat().st_size > MAX_FILE_BYTES:
        raise DeployError(f"{what} {shown!r} is larger than {MAX_FILE_BYTES} bytes")


def _check_document(root: Path, document: Mapping[str, Any], context: _Context) -> Iterator[tuple[Path, _Context]]:
    """Check the files one compose document makes compose read; yield the compose files
    it pulls in through `extends`, each with the context compose loads it in."""
    base = context.folder
    services = document.get("services")
    for name, service in (services if isinstance(services, dict) else {}).items():
        if not isinstance(service, dict):
            continue
        extends = service.get("extends")
        if isinstance(extends, dict) and extends.get("file"):
            extended = _compose_file(root, base, str(extends["file"]), f"service {name} extends.file")
            yield extended, _Context(extended.parent, extended=True)
        for item in _as_list(service.get("env_file")):
            path = item.get("path") if isinstance(item, dict) else item
            _read_file(root, base, str(path), f"service {name} env_file")
        for item in _as_list(service.get("label_file")):
            _read_file(root, base, str(item), f"service {name} label_file")
    for section in ("secrets", "configs"):
        specs = document.get(section)
        for name, spec in (specs if isinstance(specs, dict) else {}).items():
            if isinstance(spec, dict) and spec.get("file"):
                _read_file(root, base, str(spec["file"]), f"{section[:-1]} {name} file")


def check_sources(root: Path, files: Sequence[Path], *, project_dir: Path) -> None:
    """Walk the compose files (`-f`, in order) and everything they include or extend,
    each in the folder compose resolves its relative paths against (the project folder
    for every `-f` file); refuse references that leave the working copy, before compose
    reads any of them."""
    root = root.resolve()
    pending = [(path, _Context(project_dir)) for path in reversed(files)]
    seen: set[tuple[Path, _Context]] = set()
    while pending:
        current, context = pending.pop()
        if (current, context) in seen:
            continue
        seen.add((current, context))
        if len(seen) > MAX_COMPOSE_FILES:
            raise DeployError(f"the project loads more than {MAX_COMPOSE_FILES} compose files (an include loop?)")
        shown = _shown(root, current)
        document = load_yaml(current, shown)
        if not isinstance(document, dict):
            if current in files:
                raise DeployError("the compose file does not contain a mapping")
            continue
        if not context.extended:  # compose skips the `include` of a file loaded for `extends`
            for entry in _as_list(document.get("include")):
                pending.extend(reversed(list(_included(root, shown, entry, context))))
        pending.extend(_check_document(root, document, context))


def check_model(root: Path, model: Mapping[str, Any]) -> None:
    """The resolved model: local files and build inputs stay inside the working copy,
    under every policy (what a service may ask of the engine is `policy.py`'s)."""
    root = root.resolve()
    for name, service in (model.get("services") or {}).items():
        for item in _as_list(service.get("env_file")):
            path = item.get("path") if isinstance(item, dict) else item
            if path:
                _model_path(root, str(path), f"service {name} env_file")
        build = service.get("build")
        if isinstance(build, str):
            build = {"context": build}
        if isinstance(build, dict):
            _check_build(root, name, build)
    for section in ("secrets", "configs"):
        for name, spec in (model.get(section) or {}).items():
            path = spec.get("file") if isinstance(spec, dict) else None
            if path:
                _model_path(root, str(path), f"{section[:-1]} {name} file")


def _model_path(root: Path, path: str, what: str, shown: str | None = None) -> None:
    shown = path if shown is None else shown
    try:
        inside = Path(path).resolve().is_relative_to(root)
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise DeployError(f"{what} {shown!r} cannot be resolved (a symlink loop?)") from exc
    if not inside:
        raise DeployError(f"{what} {shown!r} points outside the repository")


def _local_context(name: str, value: str) -> str | None:
    """The local folder a build context names, or None for an image, a service or a URL."""
    if value.startswith("oci-layout://"):  # a local folder, relative to compose's current directory
        raise DeployError(f"service {name}: oci-layout build contexts are not supported")
    return None if "://" in value or value.startswith(("service:", "github.com/", *_REMOTE_BUILD)) else value


def _pairs(value: Any) -> Iterator[tuple[str, str]]:
    """`{key: value}` or `["key=value", ...]` as pairs (additional contexts, ssh keys)."""
    if isinstance(value, dict):
        yield from ((str(k), str(v)) for k, v in value.items())
    else:
        yield from (tuple(str(item).partition("=")[::2]) for item in _as_list(value))  # type: ignore[misc]


def _check_build(root: Path, name: str, build: Mapping[str, Any]) -> None:
    """What the builder reads from this machine: the context, the dockerfile (relative
    to the context), additional contexts and ssh keys."""
    context = _local_context(name, str(build["context"])) if build.get("context") else None
    if context is not None:
        _model_path(root, context, f"service {name} build context")
    dockerfile = str(build.get("dockerfile") or "")
    if dockerfile and (context is not None or os.path.isabs(dockerfile)):
        joined = os.path.normpath(os.path.join(context or "/", dockerfile))
        _model_path(root, joined, f"service {name} build dockerfile", dockerfile)
    for key, value in _pairs(build.get("additional_contexts")):
        folder = _local_context(name, value)
        if folder is not None:
            _model_path(root, folder, f"service {name} build additional context {key}")
    for key, path in _pairs(build.get("ssh")):
        if path:
            _model_path(root, path, f"service {name} build ssh {key}")
    for key in ("cache_from", "cache_to"):
        for entry in _as_list(build.get(key)):
            kind = dict(part.partition("=")[::2] for part in str(entry).split(",")).get("type")
            if kind == "local":  # the builder reads (or writes) that folder of this machine
                raise DeployError(f"service {name} build {key} {entry!r}: local build caches are not supported")
