"""Secret stores (Vault / OpenBao): saving, deleting and trying one, shared by the API
and the pages."""

from __future__ import annotations

from typing import Any

from dockhand.audit import record
from dockhand.errors import InUse
from stacks import vault
from stacks.models import SecretStore, StackEnvVar

_SECRETS = ("token", "secret_id")


def secret_store_save(*, store: SecretStore | None, fields: dict[str, Any]) -> SecretStore:
    """Create or update a store. A token or secret id left out or empty keeps its value;
    logging in by AppRole clears the token, and by token clears the AppRole."""
    created = store is None
    store = store or SecretStore()
    renamed_from = store.name if not created and "name" in fields and fields["name"] != store.name else ""
    for name, value in fields.items():
        if name in _SECRETS and not value:
            continue
        setattr(store, name, value)
    if fields.get("token"):
        store.role_id, store.secret_id = "", ""
    elif fields.get("role_id"):
        store.token = ""
    store.save()
    if renamed_from:  # the references name it: they follow the new name
        for var in StackEnvVar.objects.filter(secret_ref__startswith=f"vault://{renamed_from}/"):
            var.secret_ref = f"vault://{store.name}/" + var.secret_ref.removeprefix(f"vault://{renamed_from}/")
            var.save(update_fields=["secret_ref"])
    changed = sorted(n for n in _SECRETS if fields.get(n))
    detail = (
        f"url={store.url} mount={store.mount} secrets set: {', '.join(changed) or 'none'}"
        f" environmentIds={','.join(map(str, store.environment_ids)) or 'all'}"
    )
    record("secret_store.create" if created else "secret_store.update", store, detail)
    return store


def secret_store_users(store: SecretStore) -> list[str]:
    """The stacks whose overrides name the store (at most five)."""
    refs = StackEnvVar.objects.filter(secret_ref__startswith=f"vault://{store.name}/")
    return sorted(set(refs.values_list("stack__name", flat=True)))[:5]


def secret_store_delete(*, store: SecretStore) -> None:
    """Delete a store no override names (InUse otherwise: those would fail to deploy)."""
    users = secret_store_users(store)
    if users:
        raise InUse(f"Secret store is referenced by the overrides of stacks: {', '.join(users)}")
    record("secret_store.delete", store)
    store.delete()


def vault_store(store: SecretStore) -> vault.Store:
    """Where the store is and how to log in, as stacks/vault.py takes it."""
    return vault.Store(
        url=store.url,
        mount=store.mount,
        namespace=store.namespace,
        token=store.token,
        role_id=store.role_id,
        secret_id=store.secret_id,
    )


def secret_store_test(*, store: SecretStore) -> tuple[bool, str]:
    """Log in to the store as a deploy would: (worked, what happened in words)."""
    try:
        return True, vault.check(vault_store(store))
    except vault.VaultError as exc:
        return False, str(exc)
