"""Vault / OpenBao, the one module that talks to one (hvac): log in with a token or an
AppRole, read a field of a KV v2 secret, check that a store answers.

Errors say which of unreachable / denied / no such path / no such field it was, in
words a person acts on, and never carry a token, a secret id or a value. Knows nothing
of records: callers pass where the store is and how to log in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import hvac
import requests
from hvac import exceptions

TIMEOUT = 10  # seconds per request: a deploy waits on it

log = logging.getLogger(__name__)


class VaultError(Exception):
    """A store could not answer what was asked; `unreachable` when it was not reached."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class Store:
    """Where a KV v2 store is and how to log in: a token, or an AppRole's ids."""

    url: str
    mount: str
    namespace: str = ""
    token: str = ""
    role_id: str = ""
    secret_id: str = ""

    def __repr__(self) -> str:  # (never the token or the secret id, in a traceback either)
        return f"Store(url={self.url!r}, mount={self.mount!r}, namespace={self.namespace!r})"


def _client(store: Store) -> hvac.Client:
    """A client logged in to `store`: with its token, or by an AppRole login. Everything
    is given (an empty token before the AppRole login, TLS checked against the system's
    CAs, no client certificate, a session that ignores proxies and netrc, no redirects):
    what hvac and requests would otherwise take from the server's environment
    (VAULT_TOKEN, ~/.vault-token, VAULT_CACERT, VAULT_CLIENT_CERT, HTTPS_PROXY) would be
    the server's own, not the store's."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    client = hvac.Client(
        url=store.url,
        token="" if store.role_id else store.token,
        cert=False,  # type: ignore[arg-type]  # (None means: VAULT_CLIENT_CERT's)
        verify=True,
        namespace=store.namespace or None,
        timeout=TIMEOUT,
        allow_redirects=False,
        session=session,
    )
    if store.role_id:
        with _Translated(store, "log in with the AppRole"):
            client.auth.approle.login(role_id=store.role_id, secret_id=store.secret_id or None)
    return client


class _Translated:
    """hvac's and requests' errors as VaultError, naming `action` and the store's URL."""

    def __init__(self, store: Store, action: str) -> None:
        self.store, self.action = store, action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        where = self.store.url
        if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            raise VaultError(f"{where} is unreachable: could not {self.action}", unreachable=True) from None
        if isinstance(exc, exceptions.Unauthorized | exceptions.Forbidden):
            raise VaultError(f"{where} denied access: could not {self.action}") from None
        if isinstance(exc, exceptions.InvalidPath):
            raise VaultError(f"{where} has nothing there: could not {self.action}") from None
        if isinstance(exc, exceptions.VaultDown):
            raise VaultError(f"{where} is sealed or down: could not {self.action}", unreachable=True) from None
        if isinstance(exc, exceptions.VaultError | requests.exceptions.RequestException):
            raise VaultError(f"{where} answered an error: could not {self.action}") from None
        if isinstance(exc, Exception):  # e.g. urllib3's LocationParseError for a host like `a..b`
            log.warning("asking %s failed: %s", where, type(exc).__name__)
            raise VaultError(f"{where} could not be asked ({type(exc).__name__}): could not {self.action}") from None


def read_field(store: Store, *, path: str, field: str) -> str:
    """The value of `field` in the latest version of the KV v2 secret at `path` under
    the store's mount. VaultError when the store is unreachable, denies it, or has no
    such path or field."""
    client = _client(store)
    with _Translated(store, f"read {store.mount}/{path}"):
        answer = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=store.mount, raise_on_deleted_version=True
        )
    data = (answer.get("data") or {}).get("data") or {}
    if field not in data:
        raise VaultError(f"{store.url}: {store.mount}/{path} has no field {field!r}")
    value = data[field]
    return value if isinstance(value, str) else str(value)


def check(store: Store) -> str:
    """Log in and look the token up: what was found, in words. VaultError otherwise."""
    client = _client(store)
    with _Translated(store, "look up its token"):
        client.auth.token.lookup_self()
    # (Reading the mount's own configuration needs a policy a read-only role lacks.)
    return f"Logged in to {store.url}; secrets are read from the KV v2 mount {store.mount!r}"
