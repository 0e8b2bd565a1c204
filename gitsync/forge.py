"""The forges (GitHub, GitLab, Gitea) as an outside system, behind one module: commit
statuses, and the account's repositories and a repository's branches for browsing.

Each call speaks the forge's own documented REST shape:

- GitHub (REST v3): `POST /repos/{o}/{r}/statuses/{sha}`, `GET /user/repos`,
  `GET /search/repositories`, `GET /repos/{o}/{r}/branches`; `Authorization: Bearer`.
- GitLab (v4): `POST /projects/{id}/statuses/{sha}`, `GET /projects?membership=true`,
  `GET /projects/{id}/repository/branches`; `PRIVATE-TOKEN`.
- Gitea (v1): `POST /repos/{o}/{r}/statuses/{sha}`, `GET /user/repos`, `GET /repos/search`,
  `GET /repos/{o}/{r}/branches`; `Authorization: token`.

The token never appears in an error; every request has a short timeout. Nothing here
knows of records: callers pass URLs, names and the token.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from dockhand.masking import mask

FORGES = ("github", "gitlab", "gitea")
DEFAULT_API_URLS = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
PER_PAGE = 20
# A branch search on GitHub or Gitea reads the whole list (see _filtered_branches), up
# to this many pages of this many (GitHub's largest page; Gitea answers at most its
# MAX_RESPONSE_ITEMS, 50 by default, and its Link header still says what follows).
SCAN_PAGES = 10
SCAN_PER_PAGE = 100
# A commit status must never hold a deploy up: a forge that does not answer in this
# long is given up on (the deploy goes on; the failure is logged).
STATUS_TIMEOUT = 5.0
BROWSE_TIMEOUT = 10.0
_MAX_ANSWER = 2 * 1024 * 1024
# Each forge's words for a deploy's states (all three take `pending`; GitLab says `failed`).
_STATES = {
    "github": {"pending": "pending", "success": "success", "failure": "failure"},
    "gitlab": {"pending": "pending", "success": "success", "failure": "failed"},
    "gitea": {"pending": "pending", "success": "success", "failure": "failure"},
}


class ForgeError(Exception):
    """The forge refused or could not be reached; the message is safe to show."""


@dataclass(frozen=True)
class Forge:
    """Where one forge's API is and the token that opens it."""

    kind: str
    api_url: str
    token: str

    def __post_init__(self) -> None:
        if self.kind not in FORGES:
            raise ForgeError(f"unknown forge {self.kind!r}: one of {', '.join(FORGES)}")
        if urlsplit(self.api_url).scheme not in ("http", "https"):
            raise ForgeError("the forge API URL must be an http:// or https:// URL")


@dataclass(frozen=True)
class RemoteRepository:
    """A repository as a forge lists it."""

    name: str  # owner/repo (GitLab: the path with its namespace)
    ref: str  # what statuses and branches name it by (GitLab: the project id)
    clone_url: str
    default_branch: str
    private: bool


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a forge's list; `has_more` when the forge says a next page exists."""

    items: list[T]
    page: int
    has_more: bool


def api_url_for(kind: str, given: str) -> str:
    """The API URL given, or the forge's public one (Gitea has none: it must be given)."""
    url = (given or DEFAULT_API_URLS.get(kind, "")).rstrip("/")
    if not url:
        raise ForgeError(f"{kind} has no public API: give its API URL (https://host/api/v1)")
    return url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: following it would send the token to wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _headers(forge: Forge) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "dockhand"}
    if forge.kind == "github":
        headers["Accept"] = "application/vnd.github+json"
        headers["Authorization"] = f"Bearer {forge.token}"
    elif forge.kind == "gitlab":
        headers["PRIVATE-TOKEN"] = forge.token
    else:
        headers["Authorization"] = f"token {forge.token}"
    return headers


def _call(
    forge: Forge, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None, timeout: float
) -> tuple[Any, dict[str, str]]:
    """One request; the decoded JSON answer and the headers. ForgeError on anything else."""
    url = forge.api_url + path + (f"?{urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    headers = _headers(forge)
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (checked)
    host = urlsplit(forge.api_url).netloc
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            raw = answer.read(_MAX_ANSWER + 1)
            answered = {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as exc:
        said = _message(exc.read(4096))
        raise ForgeError(
            mask(f"{forge.kind} at {host} answered {exc.code}{': ' + said if said else ''}", [forge.token])
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ForgeError(mask(f"{forge.kind} at {host} could not be reached: {reason}", [forge.token])) from None
    if len(raw) > _MAX_ANSWER:
        raise ForgeError(f"{forge.kind} at {host} answered more than {_MAX_ANSWER // 1024 // 1024} MB")
    try:
        return (json.loads(raw) if raw.strip() else None), answered
    except ValueError:
        raise ForgeError(f"{forge.kind} at {host} did not answer JSON") from None


def _message(raw: bytes) -> str:
    """The forge's own error words (`message`), shortened."""
    try:
        said = json.loads(raw)
    except ValueError:
        return ""
    text = said.get("message") if isinstance(said, dict) else ""
    return str(text or "")[:200]


def _repo_path(forge: Forge, repo: str) -> str:
    if forge.kind == "gitlab":
        return f"/projects/{quote(repo, safe='')}"
    owner, _, name = repo.partition("/")
    if not owner or not name or "/" in name:
        raise ForgeError(f"{repo!r} is not owner/repo")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def post_status(
    forge: Forge, *, repo: str, sha: str, state: str, target_url: str, description: str, context: str
) -> None:
    """Set the commit status of `sha` (`state`: pending, success or failure)."""
    words = _STATES[forge.kind][state]
    body = {
        "state": words,
        "description": description[:140],
        ("name" if forge.kind == "gitlab" else "context"): context,
    }
    if target_url:  # (only an absolute URL: without DOCKHAND_PUBLIC_URL there is none)
        body["target_url"] = target_url
    _call(forge, "POST", f"{_repo_path(forge, repo)}/statuses/{quote(sha, safe='')}", body=body, timeout=STATUS_TIMEOUT)


def _has_more(headers: dict[str, str], count: int, size: int = PER_PAGE) -> bool:
    """GitHub and Gitea say so in `Link: …; rel="next"`, GitLab in `X-Next-Page`."""
    if "link" in headers:
        return 'rel="next"' in headers["link"]
    if "x-next-page" in headers:
        return bool(headers["x-next-page"].strip())
    return count >= size


def _repository(kind: str, item: dict[str, Any]) -> RemoteRepository:
    if kind == "gitlab":
        return RemoteRepository(
            name=str(item.get("path_with_namespace", "")),
            ref=str(item.get("id", "")),
            clone_url=str(item.get("http_url_to_repo", "")),
            default_branch=str(item.get("default_branch") or ""),
            private=item.get("visibility") != "public",
        )
    return RemoteRepository(
        name=str(item.get("full_name", "")),
        ref=str(item.get("full_name", "")),
        clone_url=str(item.get("clone_url", "")),
        default_branch=str(item.get("default_branch") or ""),
        private=bool(item.get("private")),
    )


def list_repositories(forge: Forge, *, query: str = "", page: int = 1) -> Page[RemoteRepository]:
    """The repositories the token's account reaches, newest activity first; `query`
    searches their names."""
    page = max(page, 1)
    if forge.kind == "gitlab":
        params: dict[str, Any] = {"membership": "true", "order_by": "last_activity_at", "page": page}
        params |= {"per_page": PER_PAGE, **({"search": query} if query else {})}
        items, headers = _call(forge, "GET", "/projects", query=params, timeout=BROWSE_TIMEOUT)
    elif forge.kind == "github" and query:
        login = _call(forge, "GET", "/user", timeout=BROWSE_TIMEOUT)[0].get("login", "")
        params = {"q": f"{query} in:name user:{login} fork:true", "page": page, "per_page": PER_PAGE}
        found, headers = _call(forge, "GET", "/search/repositories", query=params, timeout=BROWSE_TIMEOUT)
        items = found.get("items", [])
    elif forge.kind == "gitea" and query:
        params = {"q": query, "page": page, "limit": PER_PAGE, "private": "true"}
        found, headers = _call(forge, "GET", "/repos/search", query=params, timeout=BROWSE_TIMEOUT)
        items = found.get("data", [])
    else:
        size = {"per_page": PER_PAGE} if forge.kind == "github" else {"limit": PER_PAGE}
        params = {"page": page, **size, **({"sort": "updated"} if forge.kind == "github" else {})}
        items, headers = _call(forge, "GET", "/user/repos", query=params, timeout=BROWSE_TIMEOUT)
    if not isinstance(items, list):
        raise ForgeError(f"{forge.kind} answered something other than a list of repositories")
    listed = [_repository(forge.kind, item) for item in items if isinstance(item, dict)]
    return Page(items=listed, page=page, has_more=_has_more(headers, len(items)))


def list_branches(forge: Forge, *, repo: str, query: str = "", page: int = 1) -> Page[str]:
    """The branch names of `repo`; `query` narrows them (GitLab searches; GitHub's and
    Gitea's branch lists take no search, so their branches are read and filtered here)."""
    page = max(page, 1)
    if query and forge.kind != "gitlab":
        return _filtered_branches(forge, repo=repo, query=query, page=page)
    params = {"page": page, **({"search": query} if query else {})}
    names, more = _branch_page(forge, repo=repo, params=params, size=PER_PAGE)
    return Page(items=names, page=page, has_more=more)


def _filtered_branches(forge: Forge, *, repo: str, query: str, page: int) -> Page[str]:
    """Filtering only the page asked for would miss a match on a later one: walk the
    branch list from the start (at most SCAN_PAGES of SCAN_PER_PAGE, so a repository
    with thousands of branches costs a bounded number of requests), filter, then cut
    the page asked for out of the matches."""
    seen: dict[str, None] = {}  # in the forge's order, each name once
    for scanned in range(1, SCAN_PAGES + 1):
        names, more = _branch_page(forge, repo=repo, params={"page": scanned}, size=SCAN_PER_PAGE)
        new = [name for name in names if name not in seen]
        seen.update(dict.fromkeys(new))
        if not more or not new:  # a forge that ignores `page` would repeat its first
            break
    matches = [name for name in seen if query.lower() in name.lower()]
    start = (page - 1) * PER_PAGE
    return Page(items=matches[start : start + PER_PAGE], page=page, has_more=len(matches) > start + PER_PAGE)


def _branch_page(forge: Forge, *, repo: str, params: dict[str, Any], size: int) -> tuple[list[str], bool]:
    """One page of `repo`'s branch names, and whether the forge has another."""
    path = _repo_path(forge, repo) + ("/repository/branches" if forge.kind == "gitlab" else "/branches")
    size_param = "limit" if forge.kind == "gitea" else "per_page"
    items, headers = _call(forge, "GET", path, query={**params, size_param: size}, timeout=BROWSE_TIMEOUT)
    if not isinstance(items, list):
        raise ForgeError(f"{forge.kind} answered something other than a list of branches")
    names = [str(item.get("name", "")) for item in items if isinstance(item, dict)]
    return [n for n in names if n], _has_more(headers, len(items), size)
