"""Git remote URLs in one spelling, and whether a credential may be sent to one.

A credential goes only to the URL prefixes it is scoped to. Comparing what people
type would let other spellings of a place through (`HTTPS://Host.:443/a/../b`, `%2e%2e`,
`https://good.example@evil.example/`), so URL and prefix are both parsed into one normal
form first, and what cannot be put in it without guessing how a server reads it
(credentials in the URL, `?`, `#`, an encoded `/`, `//`, `..` above the root) is refused.
A prefix matches whole path segments only: `/org` is not a prefix of `/organisation`.

Pure: no records, no I/O. `git.py` asks `Scope.refusal` right before each connection;
the credential services ask it when a stack or repository is saved.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

HOST = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
SCP_LIKE = re.compile(rf"^(?P<user>[A-Za-z0-9._~][A-Za-z0-9._~-]*)@(?P<host>{HOST}):(?P<path>[^/\s:-][^\s]*)$")
_USER = re.compile(r"^[A-Za-z0-9._~][A-Za-z0-9._~-]*$")
_HOST = re.compile(rf"^{HOST}$")
_ESCAPE = re.compile(r"%(..)")
_UNRESERVED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22}


class RemoteError(ValueError):
    """A URL that has no one normal form; the message completes "the URL …"."""


@dataclass(frozen=True)
class Remote:
    """A git remote in normal form: scheme and host lower-case, the default port left
    out, escapes of plain characters decoded, `.` and `..` resolved. `user` is SSH's."""

    scheme: str
    user: str
    host: str
    port: int | None
    segments: tuple[str, ...]

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{user}{self.host}{port}/" + "/".join(self.segments)

    def as_prefix(self) -> str:
        """The prefix spelling: a trailing `/`, as it matches whole segments only."""
        shown = str(self)
        return shown if shown.endswith("/") else shown + "/"

    def within(self, prefix: Remote) -> bool:
        """Same scheme, host and port, the prefix's SSH user if it names one, and the
        prefix's path segments first."""
        return (
            (self.scheme, self.host, self.port) == (prefix.scheme, prefix.host, prefix.port)
            and prefix.user in ("", self.user)
            and self.segments[: len(prefix.segments)] == prefix.segments
        )


def parse(url: str) -> Remote:
    """`url` (https, http, ssh or scp-like `user@host:path`) in normal form; RemoteError."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in url):
        raise RemoteError("must not contain spaces, control characters or backslashes")
    if "?" in url or "#" in url:
        raise RemoteError("must not contain ? or #")
    scp = SCP_LIKE.match(url)
    if scp:
        return Remote("ssh", scp["user"], _host(scp["host"]), None, _segments(scp["path"]))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        raise RemoteError("must be an https://, http://, ssh:// or user@host:path URL")
    if parts.password is not None or (parts.username is not None and scheme != "ssh"):
        raise RemoteError("must not contain credentials (user:password@): use a credential")
    user = parts.username or ""
    if user and not _USER.match(user):
        raise RemoteError("has an SSH user name that is not plain letters, digits and . _ ~ -")
    try:
        port = parts.port
    except ValueError as exc:
        raise RemoteError("has an invalid port") from exc
    return Remote(
        scheme,
        user,
        _host(parts.hostname or ""),
        None if port == DEFAULT_PORTS[scheme] else port,
        _segments(parts.path),
    )


def _host(host: str) -> str:
    """Lower-case, without the trailing dot of a fully qualified name; IPs as Python
    writes them (IPv6 in brackets)."""
    host = host.lower().removesuffix(".")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if not _HOST.match(host):
            raise RemoteError("must name a valid host") from None
        return host
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def _decoded(path: str) -> str:
    """Escapes of plain characters decoded (`%2e` is `.`); an escaped `/`, `\\`, `%` or
    control character is refused: servers disagree on whether it splits a segment."""

    def one(found: re.Match[str]) -> str:
        try:
            char = chr(int(found.group(1), 16))
        except ValueError:
            raise RemoteError("has a malformed %-escape") from None
        if char in _UNRESERVED:
            return char
        if char in "/\\%" or ord(char) < 32 or ord(char) == 127:
            raise RemoteError("must not contain an escaped /, \\, % or control character")
        return found.group(0).upper()

    if re.search(r"%(?![0-9A-Fa-f]{2})", path):
        raise RemoteError("has a malformed %-escape")
    return _ESCAPE.sub(one, path)


def _segments(path: str) -> tuple[str, ...]:
    parts = _decoded(path).split("/")
    if parts and parts[0] == "":
        parts = parts[1:]  # the root
    if parts and parts[-1] == "":
        parts = parts[:-1]  # a trailing slash
    if "" in parts:
        # Some servers read `a//..` as `a`, others as `a/` then up: no one meaning.
        raise RemoteError("must not contain an empty path segment (//)")
    resolved: list[str] = []
    for part in parts:
        if part == ".":
            continue
        if part == "..":
            if not resolved:
                raise RemoteError("must not climb above the root with ..")
            resolved.pop()
            continue
        resolved.append(part)
    return tuple(resolved)


def normal_prefix(value: str) -> str:
    """A URL prefix as stored: its normal form with a trailing `/`; RemoteError."""
    return parse(value.strip()).as_prefix()


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address, by name alone (nothing is resolved)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Refusal:
    """Why a credential may not be used somewhere; `field` is the credential's field
    that forbids it (named when the credential itself is edited)."""

    field: str
    message: str


@dataclass(frozen=True)
class Scope:
    """Where one credential may be sent. `kind` is what it holds: "ssh" (a key: ssh
    URLs only), "http" (a password or token: https, and http to loopback or with
    `plain_http`) or "" (nothing secret)."""

    credential: str
    prefixes: tuple[str, ...]
    plain_http: bool
    kind: str

    def refusal(self, url: str) -> Refusal | None:
        """Why this credential may not be sent to `url`, or None."""
        name = repr(self.credential)
        try:
            remote = parse(url)
        except RemoteError as exc:
            return Refusal(
                "urlPrefixes", f"{url} cannot be checked against the URL prefixes of credential {name}: it {exc}"
            )
        if self.kind == "ssh" and remote.scheme != "ssh":
            return Refusal(
                "authType", f"credential {name} is an SSH key: it is sent only to ssh:// or user@host:path URLs"
            )
        if self.kind == "http" and remote.scheme == "ssh":
            return Refusal(
                "authType", f"credential {name} is a password or token: it is sent only to https:// or http:// URLs"
            )
        if not any(remote.within(prefix) for prefix in self._prefixes()):
            allowed = ", ".join(self.prefixes) or "none yet: set urlPrefixes"
            shown = url if str(remote) == url else f"{url} (read as {remote})"
            return Refusal("urlPrefixes", f"{shown} is outside the URL prefixes of credential {name} ({allowed})")
        if self.kind == "http" and remote.scheme == "http" and not self.plain_http and not is_loopback(remote.host):
            return Refusal(
                "allowPlainHttp",
                f"credential {name} would be sent over plain http:// to {remote.host}: use https://, "
                "or allow plain http on the credential (allowPlainHttp)",
            )
        return None

    def _prefixes(self) -> list[Remote]:
        parsed = []
        for prefix in self.prefixes:
            try:
                parsed.append(parse(prefix))
            except RemoteError:
                continue  # stored unchecked (by hand): matches nothing
        return parsed
