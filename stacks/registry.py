"""Container registries (the distribution HTTP API v2), behind one module: image
references, a tag's current digest (a HEAD of its manifest, never a pull), a test login,
and the per-run DOCKER_CONFIG through which the docker CLI and compose get credentials.

Knows nothing of records: callers hand in `Login`s. Errors are `RegistryError` with a
kind and the registry's name, never a password.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

DOCKER_HUB = "docker.io"
# Docker Hub's API host, and the key the docker CLI files its credentials under.
_HUB_API = "registry-1.docker.io"
_HUB_AUTH_KEY = "https://index.docker.io/v1/"
# Where dockerd reads a registry's CA (the same file is trusted here, so both agree).
CERTS_DIR = Path("/etc/docker/certs.d")
TIMEOUT = 15
# The most of an answer's body read: a token is a few KiB; an endless body is refused.
MAX_BODY = 64 * 1024
MAX_REDIRECTS = 3  # followed only to the same scheme, host and port
# A tag may point at one manifest or at an index of them (multi-platform): the digest a
# `docker pull` records is of whichever it is, so every kind is accepted.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


class RegistryError(Exception):
    """A registry refused or could not be reached; `kind` says which, the message names
    the registry (never a password)."""

    AUTHENTICATION = "authentication"
    NOT_FOUND = "not found"
    UNREACHABLE = "unreachable"

    def __init__(self, kind: str, registry: str, detail: str) -> None:
        """`detail`: why (authentication, unreachable), or what was not found ("image X")."""
        self.kind, self.registry = kind, registry
        said = {
            self.AUTHENTICATION: f"Registry {registry}: authentication failed: {detail}",
            self.NOT_FOUND: f"Registry {registry}: {detail} not found",
            self.UNREACHABLE: f"Registry {registry} is unreachable: {detail}",
        }
        super().__init__(said[kind])


@dataclass(frozen=True)
class Login:
    """Credentials for one registry host (`host[:port]`, docker.io for Docker Hub)."""

    host: str
    username: str
    password: str = field(repr=False)

    @property
    def auth(self) -> str:
        """`username:password` in base64, as DOCKER_CONFIG's `auths` hold it (a secret too)."""
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference, normalized as docker does (docker.io, library/)."""

    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """`host/repository` as the engine lists it in RepoDigests (docker.io omitted)."""
        return self.repository if self.host == DOCKER_HUB else f"{self.host}/{self.repository}"

    def pinned(self, digest: str) -> str:
        """This image at exactly `digest` (`sha256:…`)."""
        return f"{self.name}@{digest}"


_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-f0-9]{32,}$")


def parse(reference: str) -> ImageRef:
    """`[host[:port]/]repo[:tag][@digest]`; ValueError when it is not an image reference."""
    rest, _, digest = reference.strip().partition("@")
    if not rest or (digest and not _DIGEST.match(digest)) or any(c.isspace() for c in rest):
        raise ValueError(f"{reference!r} is not an image reference")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, path = first, remainder
    else:
        host, path = DOCKER_HUB, rest
    last = path.rsplit("/", 1)[-1]
    tag = ""
    if ":" in last:
        path, tag = path.rsplit(":", 1)
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not path or path != path.lower():
        raise ValueError(f"{reference!r} is not an image reference (repository names are lower case)")
    return ImageRef(host=host, repository=path, tag=tag or ("" if digest else "latest"), digest=digest)


def same_host(a: str, b: str) -> bool:
    """Whether two registry names are the same registry (Docker Hub has several names)."""
    hub = {DOCKER_HUB, "index.docker.io", _HUB_API, "registry.hub.docker.com"}
    return a.lower() == b.lower() or (a.lower() in hub and b.lower() in hub)


def _name_of(host: str) -> str:
    """The host name or address of `host[:port]` (an IPv6 address in brackets or bare)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    """Whether `host[:port]` (or a bare name or address) is this machine: the only place
    plain http is spoken to (as dockerd allows for registries)."""
    name = _name_of(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _ca(host: str) -> str | bool:
    ca = CERTS_DIR / host / "ca.crt"
    return str(ca) if ca.is_file() else True


class _Session:
    """One conversation with a registry: https (http only for a loopback host, as
    dockerd allows), and the token or basic challenge answered once."""

    def __init__(self, host: str, login: Login | None) -> None:
        self.host, self.login = host, login
        self.api = _HUB_API if same_host(host, DOCKER_HUB) else host
        self.http = requests.Session()
        self.http.trust_env = False  # no proxies or CA bundles from the server's environment
        self.base = ""

    def get(
        self, path: str, *, head: bool = False, scope: str = "", headers: dict[str, str] | None = None
    ) -> requests.Response:
        answer = self._send(path, head=head, headers=headers or {})
        if answer.status_code == 401:
            self._authenticate(answer.headers.get("WWW-Authenticate", ""), scope)
            answer = self._send(path, head=head, headers=headers or {})
            if answer.status_code == 401:
                raise self._refused()
        return answer

    def _send(self, path: str, *, head: bool, headers: dict[str, str]) -> requests.Response:
        """The answer (its body unread and closed: only status and headers are used)."""
        schemes = [self.base] if self.base else ["https", *(["http"] if is_loopback(self.api) else [])]
        last: Exception | None = None
        for scheme in schemes:
            try:
                answer = self._request(f"{scheme}://{self.api}{path}", head=head, headers=headers)
            except requests.RequestException as exc:
                last = exc
                continue
            self.base = scheme
            return answer
        raise RegistryError(RegistryError.UNREACHABLE, self.host, _reason(last))

    def _request(self, url: str, *, head: bool, headers: dict[str, str]) -> requests.Response:
        """One request, following a redirect only to the same scheme, host and port (a
        redirect elsewhere would carry the login, or reach what the server can reach)."""
        for _ in range(MAX_REDIRECTS + 1):
            answer = self.http.request(
                "HEAD" if head else "GET",
                url,
                headers=headers,
                timeout=TIMEOUT,
                verify=_ca(self.host),
                allow_redirects=False,
                stream=True,
            )
            answer.close()
            if not answer.is_redirect:
                return answer
            target = urljoin(url, answer.headers.get("Location", ""))
            if urlsplit(target)[:2] != urlsplit(url)[:2]:
                raise RegistryError(RegistryError.UNREACHABLE, self.host, "it redirected elsewhere (not followed)")
            url = target
        raise RegistryError(RegistryError.UNREACHABLE, self.host, "it redirected too many times")

    def _refused(self) -> RegistryError:
        said = "the username or password was refused" if self.login else "it needs a login and none is configured"
        return RegistryError(RegistryError.AUTHENTICATION, self.host, said)

    def _authenticate(self, challenge: str, scope: str) -> None:
        kind, _, params = challenge.partition(" ")
        values = dict(re.findall(r'(\w+)="([^"]*)"', params))
        basic = (self.login.username, self.login.password) if self.login else None
        if kind.lower() == "basic":
            if basic is None:
                raise self._refused()
            self.http.auth = basic
            return
        if kind.lower() != "bearer" or "realm" not in values:
            raise RegistryError(RegistryError.AUTHENTICATION, self.host, f"unsupported challenge {kind or 'none'}")
        query = {"service": values.get("service", "")}
        if scope or values.get("scope"):
            query["scope"] = scope or values["scope"]
        realm = self._realm(values["realm"])
        try:
            answer = self.http.get(
                realm,
                params=query,
                auth=basic,
                timeout=TIMEOUT,
                verify=_ca(self.host),
                allow_redirects=False,
                stream=True,
            )
            with answer:
                body = _bounded_body(answer)
        except (requests.RequestException, OSError, ValueError) as exc:
            raise RegistryError(RegistryError.UNREACHABLE, self.host, f"its token service: {_reason(exc)}") from exc
        if answer.status_code in (401, 403):
            raise self._refused()
        if len(body) > MAX_BODY:
            raise RegistryError(RegistryError.AUTHENTICATION, self.host, "its token service answered too much")
        token = _token_of(body)
        if answer.status_code != 200 or not token:
            raise RegistryError(
                RegistryError.AUTHENTICATION, self.host, f"its token service answered {answer.status_code}"
            )
        self.http.auth = None
        self.http.headers["Authorization"] = f"Bearer {token}"

    def _realm(self, realm: str) -> str:
        """The token service's URL, if dockhand may ask it: https (http only on a loopback
        host), and not a private or link-local address unless the registry is one too
        (a public registry must not point the server at what only it can reach)."""
        try:
            parts = urlsplit(realm)
            host = parts.hostname or ""
            parts.port  # noqa: B018 (a bad port raises here)
        except ValueError:
            host, parts = "", urlsplit("")
        if not host or parts.scheme not in ("https", "http") or parts.username or parts.password:
            raise RegistryError(RegistryError.AUTHENTICATION, self.host, "its token service is no http(s) URL")
        if parts.scheme == "http" and not is_loopback(host):
            raise RegistryError(RegistryError.AUTHENTICATION, self.host, "its token service is not https")
        if _is_internal(host) and not _is_internal(_name_of(self.api)):
            raise RegistryError(RegistryError.AUTHENTICATION, self.host, "its token service is on a private address")
        return realm


def _bounded_body(answer: requests.Response) -> bytes:
    """At most MAX_BODY + 1 bytes of the answer's body, read within TIMEOUT seconds in
    all (a per-read timeout alone lets a trickle go on for hours)."""
    deadline = time.monotonic() + TIMEOUT
    body = b""
    for chunk in answer.iter_content(8192):
        body += chunk
        if len(body) > MAX_BODY:
            break
        if time.monotonic() > deadline:
            raise requests.Timeout("the body took too long")
    return body


def _is_internal(host: str) -> bool:
    """Whether `host` (a name or an address) is, or resolves to, an address that is not
    global: loopback, private, link-local (the cloud metadata service), reserved."""
    name = host
    if name == "localhost":
        return True
    try:
        addresses = [ipaddress.ip_address(name)]
    except ValueError:
        try:
            found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return False  # (it cannot be reached either)
        addresses = [ipaddress.ip_address(str(entry[4][0]).split("%", 1)[0]) for entry in found]
    return any(not a.is_global for a in addresses)


def _token_of(raw: bytes) -> str | None:
    """The token of a token service's answer; None for anything but a JSON object with a
    string `token` or `access_token` (a hostile service may answer anything)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
    return token if isinstance(token, str) and token.isprintable() and token.isascii() else None


def _reason(exc: Exception | None) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return "its TLS certificate is not trusted (a CA in /etc/docker/certs.d/<host>/ca.crt?)"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {TIMEOUT} s"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect"
    return "cannot connect" if exc is None else type(exc).__name__


def _login_for(host: str, logins: Iterable[Login]) -> Login | None:
    return next((login for login in logins if same_host(login.host, host)), None)


def remote_digest(reference: str, logins: Iterable[Login] = ()) -> str:
    """The digest (`sha256:…`) the registry gives `reference`'s tag now: a HEAD of the
    manifest, with the matching login if any. RegistryError otherwise."""
    ref = parse(reference)
    session = _Session(ref.host, _login_for(ref.host, logins))
    path = f"/v2/{ref.repository}/manifests/{ref.digest or ref.tag}"
    answer = session.get(path, head=True, scope=f"repository:{ref.repository}:pull", headers={"Accept": MANIFEST_TYPES})
    if answer.status_code == 403:
        raise session._refused()
    if answer.status_code == 404:
        raise RegistryError(RegistryError.NOT_FOUND, ref.host, f"image {reference}")
    if answer.status_code >= 500 or answer.status_code != 200:
        raise RegistryError(RegistryError.UNREACHABLE, ref.host, f"it answered {answer.status_code}")
    digest = answer.headers.get("Docker-Content-Digest", "")
    if not _DIGEST.match(digest):
        raise RegistryError(RegistryError.UNREACHABLE, ref.host, "it gave no Docker-Content-Digest for the manifest")
    return digest


def login_test(login: Login) -> None:
    """Log in to the registry's API root (`/v2/`); RegistryError saying why not."""
    session = _Session(login.host, login)
    answer = session.get("/v2/")
    if answer.status_code in (401, 403):
        raise session._refused()
    if answer.status_code != 200:
        raise RegistryError(RegistryError.UNREACHABLE, login.host, f"/v2/ answered {answer.status_code}")


def hosts_of(references: Iterable[str]) -> set[str]:
    """The registries a set of image references pull from (unparseable ones skipped)."""
    hosts = set()
    for reference in references:
        try:
            hosts.add(parse(reference).host)
        except ValueError:
            continue
    return hosts


def matching(logins: Iterable[Login], hosts: Iterable[str]) -> list[Login]:
    """The logins for exactly these registries, nothing more."""
    hosts = list(hosts)
    return [login for login in logins if any(same_host(login.host, h) for h in hosts)]


@contextmanager
def docker_config(parent: Path, logins: Sequence[Login] = ()) -> Iterator[Path]:
    """A DOCKER_CONFIG directory for one run (0700, `config.json` 0600 with only these
    logins' `auths`), removed when the block ends. The server's own ~/.docker is never
    read or written through it."""
    parent.mkdir(parents=True, exist_ok=True)
    where = Path(tempfile.mkdtemp(prefix="docker-config-", dir=parent))  # 0700
    try:
        docker_config_write(where, logins)
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def docker_config_write(where: Path, logins: Sequence[Login]) -> None:
    """(Re)write `config.json` in a run's DOCKER_CONFIG with these logins."""
    fd = os.open(where / "config.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(docker_config_json(logins))


def docker_config_json(logins: Sequence[Login]) -> bytes:
    """A DOCKER_CONFIG's `config.json` holding these logins and nothing else."""
    auths = {}
    for login in logins:
        key = _HUB_AUTH_KEY if same_host(login.host, DOCKER_HUB) else login.host
        auths[key] = {"auth": login.auth}
    return json.dumps({"auths": auths}).encode()


# What dockerd and compose print when a pull fails, by kind (their words vary by version);
# an unreachable registry by its cause, as told to the user.
_REFUSED = ("no basic auth credentials", "unauthorized", "authentication required", "denied")
_MISSING = ("manifest unknown", "not found", "name unknown", "does not exist")
_UNREACHABLE = (
    ("connection refused", "connection refused"),
    ("no such host", "the name {name} does not resolve"),
    ("x509", "its TLS certificate is not trusted ({ca})"),
    ("tls:", "the TLS handshake failed"),
    ("server gave http response to https client", "it answered plain http to dockerd's https"),
    ("i/o timeout", "no answer in time"),
    ("deadline exceeded", "no answer in time"),
    ("connection reset", "it closed the connection"),
    ("no route to host", "no route to it"),
    ("network is unreachable", "no route to it"),
    ("dial tcp", "cannot connect"),
)


def pull_failure(text: str, references: Iterable[str]) -> RegistryError | None:
    """A failed compose or docker run's words as a RegistryError naming the registry and
    the kind, when they are about pulling one of `references`; else None."""
    lowered = text.lower()
    refs = []
    for reference in references:
        try:
            refs.append((reference, parse(reference)))
        except ValueError:
            continue
    cause = next((said for word, said in _UNREACHABLE if word in lowered), None)
    hit = _about(lowered, refs, unreachable=cause is not None)
    if hit is None:
        return None
    reference, ref = hit
    if any(word in lowered for word in _REFUSED):
        said = f"pulling {reference} was refused (no or wrong registry credential)"
        return RegistryError(RegistryError.AUTHENTICATION, ref.host, said)
    if any(word in lowered for word in _MISSING):
        return RegistryError(RegistryError.NOT_FOUND, ref.host, f"image {reference}")
    if cause is not None:
        # (The daemon's ping of /v2/ names no image: several of this registry's may be meant.)
        on_host = [r for r, parsed in refs if same_host(parsed.host, ref.host)]
        # The name dockerd looked up, as it says it (Docker Hub's API has a name of its
        # own, and a token server or a layer's host may be the one that failed).
        looked_up = re.search(r"lookup ([^\s:]+)", lowered)
        name = looked_up.group(1) if looked_up else _name_of(ref.host)
        # Where dockerd looks for a registry's CA: not in certs.d for Docker Hub (there
        # an untrusted certificate most often means a network that inspects TLS).
        ca = (
            "a network that inspects TLS? dockerd trusts the system CAs"
            if same_host(ref.host, DOCKER_HUB)
            else f"is its CA in /etc/docker/certs.d/{ref.host}/ca.crt?"
        )
        said = f"pulling {', '.join(on_host)}: {cause.format(name=name, ca=ca)}"
        return RegistryError(RegistryError.UNREACHABLE, ref.host, said)
    return None


def _about(lowered: str, refs: list[tuple[str, ImageRef]], *, unreachable: bool) -> tuple[str, ImageRef] | None:
    """The reference the daemon's words are about: one whose repository is named with
    its host or in full (`Head "http://host/v2/team/app/manifests/…"`); else one whose
    registry's API root is (`Get "http://host/v2/": dial tcp …`, the ping before any
    pull); else, for words that say it cannot be reached, one whose registry dockerd
    says it looked up or dialled (`lookup host`, `dial tcp host:port`, `://host:port`:
    a bare name anywhere in the text, such as an app's own "docker.io … connection
    refused", is no registry's failure)."""

    def named(text: str) -> bool:  # 1.2.3.4 is not in 11.2.3.4
        return re.search(rf"(?<![\w.-]){re.escape(text.lower())}", lowered) is not None

    def dialled(host: str) -> bool:
        name, address = re.escape(_name_of(host).lower()), re.escape(host.lower())  # host:port if it has one
        said = rf"(?:lookup {name}|dial tcp {address}|://{address})(?![\w.-]|:\d)"
        return re.search(said, lowered) is not None

    for reference, ref in refs:
        repository = ref.repository.removeprefix("library/")
        if repository in lowered and (ref.host.lower() in lowered or reference.lower() in lowered):
            return reference, ref
    for reference, ref in refs:
        if any(named(f"{host}/v2/") for host in _aliases(ref.host)):
            return reference, ref
    if unreachable:
        for reference, ref in refs:
            if any(dialled(host) for host in _aliases(ref.host)):
                return reference, ref
    return None


def _aliases(host: str) -> tuple[str, ...]:
    """The names a registry's URLs may carry (Docker Hub's API has its own)."""
    return (host, _HUB_API, "index.docker.io") if same_host(host, DOCKER_HUB) else (host,)
