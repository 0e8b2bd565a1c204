"""Registries as records: saving, deleting and testing them, and which logins one
stack's run may carry (its environment's, for the hosts its images are on)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dockhand.audit import record
from dockhand.masking import mask
from stacks import registry
from stacks.models import GitStack, Registry


def registry_save(*, instance: Registry | None, fields: dict[str, Any]) -> Registry:
    """Create or update a registry; an empty or absent password keeps the stored one."""
    created = instance is None
    instance = instance or Registry()
    for name, value in fields.items():
        if name == "password" and not value:
            continue
        setattr(instance, name, value)
    instance.save()
    detail = (
        f"url={instance.url} username={instance.username or '-'} password set: {'yes' if fields.get('password') else 'no'}"
        f" environmentIds={','.join(map(str, instance.environment_ids)) or 'all'}"
    )
    record("registry.create" if created else "registry.update", instance, detail)
    return instance


def registry_delete(*, instance: Registry) -> None:
    record("registry.delete", instance)
    instance.delete()


def registry_test(*, instance: Registry) -> tuple[bool, str]:
    """Log in to the registry now; whether it worked and what to tell the user."""
    try:
        registry.login_test(_login(instance))
    except registry.RegistryError as exc:
        return False, mask(str(exc), [instance.password])
    record("registry.test", instance, "login ok")
    return True, f"Logged in to {instance.url}" + (f" as {instance.username}" if instance.username else "")


def _login(instance: Registry) -> registry.Login:
    return registry.Login(host=instance.url, username=instance.username, password=instance.password)


def environment_registries(environment_id: int) -> list[Registry]:
    """The registries a stack of this environment may use."""
    return [r for r in Registry.objects.all() if r.allows_environment(environment_id)]


def stack_logins(stack: GitStack, references: Iterable[str]) -> list[registry.Login]:
    """The logins for the registries these images (of this stack) are on, and only them."""
    logins = [_login(r) for r in environment_registries(stack.environment_id) if r.password or r.username]
    return registry.matching(logins, registry.hosts_of(references))


def registry_secrets(environment_id: int) -> list[str]:
    """Every registry password a stack of this environment could carry (to mask), and
    its login as DOCKER_CONFIG holds it (`user:password` in base64)."""
    found = [r for r in environment_registries(environment_id) if r.password]
    return [r.password for r in found] + [_login(r).auth for r in found]
