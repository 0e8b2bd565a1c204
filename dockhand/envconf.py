"""Strict readers for DOCKHAND_* environment settings.

A typo in a boolean ("ture") must stop start-up, not silently mean False; every
setting can also come from `<NAME>_FILE` so Docker secrets work unchanged.
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    """Read `name`, or the contents of the file named by `name_FILE`."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            with open(file_path, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_path}: {exc.strerror}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean; anything but a known spelling is a configuration error."""
    raw = env_str(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """Read a whole number no smaller than `minimum`."""
    raw = env_str(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Read a comma-separated list of addresses or CIDR networks."""
    raw = env_str(name) or ""
    networks = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an address or network") from exc
    return networks


def split_bind(bind: str) -> tuple[str, int]:
    """Split `host:port` (or `[v6]:port`) as given in DOCKHAND_BIND."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ImproperlyConfigured(f"DOCKHAND_BIND must look like 127.0.0.1:8000, not {bind!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def env_list(name: str) -> list[str]:
    """Read a comma-separated list (empty when unset)."""
    return [item.strip() for item in (env_str(name) or "").split(",") if item.strip()]


def env_public_url(name: str) -> str:
    """Read an http(s) base URL without a trailing slash (empty when unset)."""
    raw = (env_str(name) or "").strip().rstrip("/")
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ImproperlyConfigured(f"{name} must look like https://dockhand.example.com, not {raw!r}")
    return raw


# Names this machine answers to itself: `make run`, health checks and scrapers on the host.
_LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]


def default_allowed_hosts(bind_host: str, public_url: str) -> list[str]:
    """The Host headers to answer when DOCKHAND_ALLOWED_HOSTS is unset.

    Bound to every address, the server is reached under names it cannot know: any.
    Bound to one, it answers its loopback names, that address and the public URL's
    host; a page whose own name was pointed at this machine (DNS rebinding) is refused.
    """
    if bind_host in ("0.0.0.0", "::", ""):  # noqa: S104 (compared, not bound)
        return ["*"]
    hosts = [*_LOOPBACK_HOSTS, f"[{bind_host}]" if ":" in bind_host else bind_host]
    if public_url:
        hosts.append(str(urlsplit(public_url).hostname))
    return list(dict.fromkeys(hosts))
