"""Secrets from where they live: `vault://` references in overrides and SOPS-encrypted
env files, resolved at deploy time; their keyed HMACs in the desired-state revision, so
a value rotated in the store makes the stack OutOfSync and a sync applies it.

Resolved values are never stored in clear and never returned: they reach compose
through its process environment (store values) or a 0600 file outside the working copy
removed when compose ends (decrypted files). The stack keeps, per input, the keyed HMAC
of what was last resolved (`secret_inputs`: override key, or `file:<path>`), and the
values themselves only encrypted (`secret_mask`), so that output, logs and pages mask
them without asking the store again.

The revision hooks (`config_part`, `changed_words`) read the database alone, like the
rest of the revision; `secret_inputs_refresh` is what asks the stores again (the
status's `refresh=true`, the pre-queue check and the worker).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from django.conf import settings

from dockhand.crypto import fingerprint
from stacks import compose, sops, vault
from stacks.models import Environment, GitStack, SecretStore, StackEnvVar
from stacks.services import compose_checks, sops_services
from stacks.services.deploy_errors import DeployError
from stacks.services.secret_stores import vault_store

log = logging.getLogger(__name__)

CONFIG_KEY = "secretInputs"  # where the revision keeps them (beside overrides, options, engine)
FILE_PREFIX = "file:"
MASK_KEEP = 200  # values kept for masking: the newest, and what still runs from before
_REF = re.compile(r"^vault://(?P<store>[^/#]+)/(?P<path>[^#]+)#(?P<field>.+)$")


@dataclass(frozen=True)
class Ref:
    """A parsed `vault://<store name>/<path>#<field>`."""

    store: str
    path: str
    field: str


def parse_ref(ref: str) -> Ref:
    """The parts of a secret reference; ValueError saying what is wrong with it."""
    found = _REF.match(ref)
    if not found or ".." in found["path"].split("/") or found["path"].startswith("/"):
        raise ValueError(f"{ref!r} is not a reference: give vault://<store name>/<path>#<field>")
    return Ref(found["store"], found["path"].strip("/"), found["field"])


def ref_problem(ref: str, environment: Environment | None = None) -> str | None:
    """Why `ref` cannot be resolved as stored (syntax, unknown store, a store the
    stack's `environment` may not use), or None (API validation)."""
    try:
        parsed = parse_ref(ref)
    except ValueError as exc:
        return str(exc)
    store = SecretStore.objects.filter(name=parsed.store).first()
    if store is None:
        return f"there is no secret store named {parsed.store!r}"
    if environment is not None and not store.allows_environment(environment.pk):
        return _out_of_scope(store, environment)
    return None


def refs_problem(refs: Iterable[str], environment: Environment) -> str | None:
    """The first of `refs` a stack of `environment` may not name, and why; or None."""
    return next((p for p in (ref_problem(r, environment) for r in refs if r) if p), None)


def _out_of_scope(store: SecretStore, environment: Environment) -> str:
    return f"secret store {store.name!r} may not be used in environment {environment.name!r}"


@dataclass
class Resolved:
    """What one resolution found: store values by override key (for the compose process
    environment), decrypted text by encrypted file, their HMACs and the values to mask."""

    env: dict[str, str] = field(default_factory=dict)
    files: dict[Path, str] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)


def _store(name: str, stack: GitStack) -> vault.Store:
    """The store, if the stack's environment may use it now (the stack may have moved,
    or the store's environments changed, since the reference was saved)."""
    found = SecretStore.objects.filter(name=name).first()
    if found is None:
        raise vault.VaultError(f"there is no secret store named {name!r}")
    if not found.allows_environment(stack.environment_id):
        raise vault.VaultError(_out_of_scope(found, stack.environment))
    return vault_store(found)


def _references(overrides: Iterable[StackEnvVar]) -> list[StackEnvVar]:
    return [v for v in overrides if v.secret_ref]


def resolve_refs(stack: GitStack, into: Resolved) -> None:
    """Read every `vault://` override of the stack into `into`. DeployError naming the
    override and the reference when a store cannot answer (never a value or token)."""
    stores: dict[str, vault.Store] = {}
    for var in _references(stack.env_vars.all()):
        try:
            ref = parse_ref(var.secret_ref)
            if ref.store not in stores:
                stores[ref.store] = _store(ref.store, stack)
            value = vault.read_field(stores[ref.store], path=ref.path, field=ref.field)
        except (ValueError, vault.VaultError) as exc:
            raise DeployError(f"override {var.key} ({var.secret_ref}): {exc}") from None
        into.env[var.key] = value
        into.fingerprints[var.key] = fingerprint(value)
        into.values.append(value)


def decrypt_files(stack: GitStack, paths: Iterable[Path], *, root: Path, into: Resolved) -> None:
    """Decrypt, into `into`, every file of `paths` that sops encrypted, with the stack's
    age key. DeployError "could not decrypt <file> with the age key <name>" otherwise."""
    for path in paths:
        text = _read_inside(path, root)
        if text is None or not sops.is_encrypted(text):
            continue
        shown = _shown(path, root)
        foreign = sops.foreign_master_keys(text)
        if foreign:
            raise DeployError(f"{shown} is encrypted for {', '.join(foreign)}; dockhand decrypts age only")
        credential = stack.sops_credential
        if credential is None or not credential.age_key:
            raise DeployError(
                f"could not decrypt {shown}: it is SOPS-encrypted and the stack names no age key (sopsCredentialId)"
            )
        try:
            plain = sops.decrypt_dotenv(path, age_key=credential.age_key)
        except sops.SopsError as exc:
            raise DeployError(f"could not decrypt {shown} with the age key {credential.name}: {exc}") from None
        into.files[path] = plain
        into.fingerprints[FILE_PREFIX + shown] = fingerprint(plain)
        for value in sops.dotenv_values(plain).values():
            into.values += [value, value.strip("\"'")]


def refuse_encrypted_env_files(model: dict[str, object]) -> None:
    """DeployError when a service's `env_file:` is SOPS-encrypted still (its `sops_mac`
    key shows in the environment compose resolved): one named in an included or
    extended file, which `sops_services` does not read. Compose would hand the
    container the ciphertext."""
    services = model.get("services")
    for name, service in sorted(services.items() if isinstance(services, dict) else []):
        environment = service.get("environment") if isinstance(service, dict) else None
        if isinstance(environment, dict) and "sops_mac" in environment:
            raise DeployError(
                f"service {name} reads a SOPS-encrypted env_file, which compose would pass on still encrypted:"
                " dockhand decrypts the env_file of the project's own compose files, envFilePath and .env,"
                " not one named in an included or extended file"
            )


def _read_inside(path: Path, root: Path) -> str | None:
    """The text of `path` if it is a regular file inside the working copy `root` of at
    most compose_checks.MAX_FILE_BYTES; None otherwise (an absolute path, `../`, a
    symlink out, /dev/zero: left unread, for the compose checks to refuse by name)."""
    try:
        real = path.resolve()
        if not real.is_relative_to(root.resolve()) or not real.is_file():
            return None
        if real.stat().st_size > compose_checks.MAX_FILE_BYTES:
            return None
        with real.open("rb") as fh:
            return fh.read(compose_checks.MAX_FILE_BYTES).decode("utf-8", errors="replace")
    except (OSError, RuntimeError):  # (RuntimeError: a symlink loop)
        return None


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


@contextmanager
def secret_inputs_applied(
    stack: GitStack, project: compose.ComposeProject, *, root: Path, run_id: str
) -> Iterator[tuple[compose.ComposeProject, Resolved]]:
    """The project with each SOPS-encrypted `--env-file` swapped for its decrypted text
    in a 0600 file of the run directory (removed when this ends), and what was resolved
    (store values for the process environment). Records what was found on the stack."""
    resolved = Resolved()
    resolve_refs(stack, resolved)
    decrypt_files(stack, project.env_files, root=root, into=resolved)
    # A service's own env_file too (files outside the working copy are left to the
    # checks that refuse them, unread).
    inside = root.resolve()
    by_service = sops_services.service_env_files(project.files, project.workdir)
    named = {path for entries in by_service.values() for path, _ in entries}
    decrypt_files(stack, [p for p in named if p.resolve().is_relative_to(inside)], root=root, into=resolved)
    written: dict[Path, Path] = {}
    try:
        settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
        for index, encrypted in enumerate(p for p in resolved.files if p in project.env_files):
            written[encrypted] = settings.RUN_DIR / f"{run_id}.sops-{index}.env"
            _write_private(written[encrypted], resolved.files[encrypted])
        env_files = [written.get(p, p) for p in project.env_files]
        files = list(project.files)
        services = _services_decrypted(by_service, project.files, resolved, root=root)
        if services:
            generated = settings.RUN_DIR / f"{run_id}.sops-services.yaml"
            written[generated] = generated
            _write_private(generated, sops_services.override_text(services))
            files.append(generated)
        _observed(stack, resolved)
        yield replace(project, env_files=env_files, files=files), resolved
    finally:
        for path in written.values():
            path.unlink(missing_ok=True)


def is_generated(path: Path) -> bool:
    """A compose file the deploy wrote (in the run directory), not the repository's."""
    return path.parent == Path(settings.RUN_DIR)


def _services_decrypted(
    by_service: dict[str, list[tuple[Path, Any]]], files: Sequence[Path], resolved: Resolved, *, root: Path
) -> dict[str, tuple[list[Any], dict[str, str]]]:
    """Per service with an encrypted env_file: the entries it keeps and the decrypted
    variables, in compose's order (a later env_file wins; its own environment wins over all)."""
    services: dict[str, tuple[list[Any], dict[str, str]]] = {}
    for name, entries in by_service.items():
        if not any(path in resolved.files for path, _ in entries):
            continue
        shadowed = sops_services.own_environment_keys(files, name)
        kept: list[Any] = []
        variables: dict[str, str] = {}
        for path, entry in entries:
            if path in resolved.files:
                variables.update(sops_services.decrypted_variables(resolved.files[path], shadowed))
                continue
            kept.append(entry)
            # A later plain file's keys are its own again (one the checks refuse: unread).
            later = sops.dotenv_values(_read_inside(path, root) or "")
            for key in later:
                variables.pop(key, None)
        services[name] = (kept, variables)
    return services


def _observed(stack: GitStack, resolved: Resolved, *, keep_files: bool = False) -> None:
    """Record what was resolved: the HMACs (what `config_part` puts in the revision) and
    the values to mask, newest first, with those masked before (what runs may still
    print them)."""
    if not resolved.fingerprints and not stack.secret_inputs:
        return
    fingerprints = dict(resolved.fingerprints)
    if keep_files:
        fingerprints.update({k: v for k, v in stack.secret_inputs.items() if k.startswith(FILE_PREFIX)})
    values = list(dict.fromkeys([*resolved.values, *mask_values(stack)]))[:MASK_KEEP]
    changed: dict[str, Any] = {}
    if fingerprints != stack.secret_inputs:
        changed["secret_inputs"] = fingerprints
    if values != mask_values(stack):
        changed["secret_mask"] = json.dumps(values)
    if changed:
        stack.record(**changed)


def secret_inputs_refresh(*, stack: GitStack) -> str | None:
    """Ask the stores again for the stack's references and record what they hold now
    (decrypted files change only with a commit, which the commit shows). None when done
    or nothing to ask; what went wrong otherwise (the stack left as it was)."""
    if not _references(stack.env_vars.all()):
        return None
    resolved = Resolved()
    try:
        resolve_refs(stack, resolved)
    except DeployError as exc:
        return str(exc)
    _observed(stack, resolved, keep_files=True)
    return None


def mask_values(stack: GitStack) -> list[str]:
    """Every value resolved for the stack so far (stores, decrypted files) and the age
    key it decrypts with: what its output, logs and pages mask."""
    values: list[str] = json.loads(stack.secret_mask) if stack.secret_mask else []
    credential = stack.sops_credential
    return values + (credential.secret_values() if credential else [])


# The revision's part (services/revision.py).


def config_part(stack: Any, overrides: Sequence[Any]) -> dict[str, Any]:
    """The HMACs of the stack's secret inputs as last resolved, for its revision: the
    references it has now and the decrypted files; nothing at all when there are none
    (a stack without them keeps the revision it had)."""
    observed: dict[str, str] = getattr(stack, "secret_inputs", None) or {}
    refs = {v.key for v in overrides if getattr(v, "secret_ref", "")}
    part = {k: v for k, v in sorted(observed.items()) if k.startswith(FILE_PREFIX) or k in refs}
    return {CONFIG_KEY: part} if part else {}


def with_applied(config: dict[str, Any], resolved: Resolved | None) -> dict[str, Any]:
    """`config` with the HMACs of what a deploy actually resolved (what it applied)."""
    if resolved is None:
        return config
    applied = {k: v for k, v in config.items() if k != CONFIG_KEY}
    if resolved.fingerprints:
        applied[CONFIG_KEY] = dict(sorted(resolved.fingerprints.items()))
    return applied


def changed_words(applied: dict[str, Any] | None, desired: dict[str, Any]) -> list[str]:
    """Which secret inputs changed since the last deploy, named, never shown."""
    if not applied:
        return []
    before, after = applied.get(CONFIG_KEY) or {}, desired.get(CONFIG_KEY) or {}
    words = []
    for key in sorted(set(before) | set(after)):
        if key not in before or key not in after or before[key] == after[key]:
            continue  # added or removed: the override itself says so
        if key.startswith(FILE_PREFIX):
            words.append(f"decrypted file {key.removeprefix(FILE_PREFIX)} changed")
        else:
            words.append(f"secret {key} changed in its store")
    return words


def changed_keys(applied: dict[str, Any] | None, desired: dict[str, Any]) -> list[str]:
    """The keys of `changed_words`, for the diff."""
    before, after = (applied or {}).get(CONFIG_KEY) or {}, desired.get(CONFIG_KEY) or {}
    return sorted(k for k in set(before) & set(after) if before[k] != after[k])
