"""Everything dockhand does with git, behind one module (GitPython drives the CLI).

Credentials never reach a URL, `.git/config` or an argument list: HTTPS secrets are
handed over by an askpass helper reading this process's child environment, SSH keys are
written 0600 to a per-run directory that is removed afterwards. Before each connection
the credential's scope (`remotes.Scope`) must allow the URL, or nothing is sent.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import git
from django.conf import settings

from dockhand.masking import mask
from dockhand.sshopts import ssh_options, write_askpass
from gitsync.remotes import SCP_LIKE, Scope

# Messages git prints that mean "the remote could not be reached" (answered 502).
_UNREACHABLE = (
    "could not resolve host",
    "connection refused",
    "failed to connect",
    "connection timed out",
    "operation timed out",
    "could not read from remote repository",
    "no route to host",
    "unable to access",
)
# Files checked out for compose to read: 0644 and 0755 (see `checkout`).
_WORKING_COPY_UMASK = 0o022
# HTTP statuses as git says them ("The requested URL returned error: 403"): a bare
# "403" also matched a URL's port (127.0.0.1:34037), calling a missing repository a
# refused credential.
_AUTH_FAILED = ("authentication failed", "permission denied", "error: 403", "error: 401", "terminal prompts disabled")
# What servers say for a path that holds no repository (GitHub also for a private one).
_NO_REPOSITORY = (
    "repository not found",
    "' not found",
    "does not appear to be a git repository",
    "not a git repository",
)

# Configuration forced on every git run: a repository must not run code here.
_HARDENING = {
    "core.hooksPath": os.devnull,
    "core.fsmonitor": "false",
    "submodule.recurse": "false",
    "protocol.file.allow": "never",
    "protocol.ext.allow": "never",
    "credential.helper": "",
}


class GitError(Exception):
    """A git operation failed; the message is safe to show (no credentials). `detail`
    is what git said, without the action (for messages that name the action otherwise)."""

    kind = "git_error"  # the API's `code` for it (dockhand/api.py), when the remote answered

    def __init__(self, message: str, *, unreachable: bool = False, detail: str = "") -> None:
        super().__init__(message)
        self.unreachable = unreachable
        self.detail = detail or message

    @property
    def error_code(self) -> str:
        return "remote_unreachable" if self.unreachable else self.kind


class BranchMissing(GitError):
    """The remote answered, and the branch is not there (deleted upstream?)."""

    kind = "branch_missing"


class AuthFailed(GitError):
    """The remote wants a credential, or refused the one sent."""

    kind = "auth_failed"


class RepositoryMissing(GitError):
    """The server answered, and has no repository at that path (or hides a private one)."""

    kind = "repository_missing"


class ListingTooLarge(GitError):
    """The branch's tree is larger than a listing may fetch (the server sent file contents too)."""

    kind = "listing_too_large"


@dataclass(frozen=True)
class GitAuth:
    """What git needs to authenticate; built from a Credential by the caller."""

    username: str = ""
    secret: str = ""  # password or token (HTTPS), or the key's passphrase (SSH)
    ssh_private_key: str = ""
    known_hosts: str = ""
    # Where host keys learned on first use are kept when no known_hosts was given.
    learned_hosts_file: Path | None = None
    secrets: tuple[str, ...] = field(default=())
    # Where the credential may be sent; checked before every connection (None: unscoped).
    scope: Scope | None = None


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str
    author: str


@contextmanager
def _environment(auth: GitAuth | None) -> Iterator[dict[str, str]]:
    """Environment for one git run, with a private temp dir removed afterwards."""
    try:
        settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="git-", dir=settings.RUN_DIR))
    except OSError as exc:
        raise GitError(f"Could not prepare git's temporary files: {exc.strerror}") from exc
    try:
        try:
            env = _prepared_env(tmp, auth)
        except OSError as exc:  # a full disk: say so rather than crash
            raise GitError(f"Could not prepare git's temporary files: {exc.strerror}") from exc
        yield env
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _prepared_env(tmp: Path, auth: GitAuth | None) -> dict[str, str]:
    """Write the askpass helper (and SSH key, known hosts) into `tmp`; the git env."""
    os.chmod(tmp, 0o700)
    askpass = write_askpass(tmp)
    env = {
        # Never prompt, never read the host's or user's git config (a credential
        # helper there would store our secrets), only network protocols.
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ALLOW_PROTOCOL": "http:https:ssh",
        "HOME": str(tmp),
        "GIT_ASKPASS": str(askpass),
        "SSH_ASKPASS": str(askpass),
        "SSH_ASKPASS_REQUIRE": "force",
        "DOCKHAND_GIT_USERNAME": auth.username if auth else "",
        "DOCKHAND_GIT_SECRET": auth.secret if auth else "",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "GIT_CONFIG_COUNT": str(len(_HARDENING)),
    }
    for index, (name, value) in enumerate(_HARDENING.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = name
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    ssh = [
        "ssh",
        *ssh_options(
            tmp,
            private_key=auth.ssh_private_key if auth else "",
            known_hosts=auth.known_hosts if auth else "",
            learned_hosts_file=auth.learned_hosts_file if auth else None,
        ),
    ]
    env["GIT_SSH_COMMAND"] = " ".join(_sh_quote(a) for a in ssh)
    return env


_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def _has_commit(runner: git.cmd.Git, env: dict[str, str], sha: str) -> bool:
    try:
        runner.execute(["git", "cat-file", "-e", f"{sha}^{{commit}}"], env=env)
    except git.GitCommandError:
        return False
    return True


def _sh_quote(arg: str) -> str:
    # GIT_SSH_COMMAND is run by a shell; our own temp paths are the only variable parts.
    return "'" + arg.replace("'", "'\\''") + "'"


def _error(exc: git.GitCommandError, auth: GitAuth | None, action: str, url: str) -> GitError:
    """Turn a git failure into a message a user can act on, secrets masked."""
    stderr = (exc.stderr or "").strip()
    detail = " ".join(line.strip() for line in stderr.splitlines() if line.strip())
    detail = detail.removeprefix("stderr:").strip().strip("'").strip()
    lowered = detail.lower()
    secrets = auth.secrets if auth else ()
    if lowered.startswith("timeout: the command"):  # GitPython's words when it killed git
        # A remote that accepts and never answers is as unreachable as one that refuses.
        return _timed_out(action)
    if "host key verification failed" in lowered:
        return GitError(mask(f"{action}: Host key verification failed for {url}", secrets))
    detail = mask(detail, secrets)
    if any(s in lowered for s in _AUTH_FAILED):
        return AuthFailed(mask(f"{action}: authentication failed for {url}: {detail}", secrets), detail=detail)
    if "not found in upstream" in lowered:  # clone --branch of a branch that is not there
        return BranchMissing(mask(f"{action}: {detail}", secrets), detail=detail)
    if any(s in lowered for s in _NO_REPOSITORY):
        return RepositoryMissing(mask(f"{action}: {detail}", secrets), detail=detail)
    unreachable = any(s in lowered for s in _UNREACHABLE)
    detail = detail or f"git exited with status {exc.status}"
    return GitError(mask(f"{action}: {detail}", secrets), unreachable=unreachable, detail=detail)


def _timed_out(action: str) -> GitError:
    return GitError(
        f"{action}: the remote did not answer in {settings.GIT_TIMEOUT} s",
        unreachable=True,
        detail=f"no answer in {settings.GIT_TIMEOUT} s",
    )


def url_host(url: str) -> str | None:
    """The host a git URL connects to."""
    found = SCP_LIKE.match(url)
    if found:
        return found.group("host")
    return urlsplit(url).hostname


def _refuse(url: str, auth: GitAuth | None) -> None:
    """Checks made before any connection: the credential's scope, then the host."""
    refusal = auth.scope.refusal(url) if auth is not None and auth.scope is not None else None
    if refusal is not None:
        # Before git runs: not one byte of the secret leaves, not even a connection.
        raise GitError(f"The credential was not sent: {refusal.message}")
    _refuse_private_host(url)


def _refuse_private_host(url: str) -> None:
    """With DOCKHAND_BLOCK_PRIVATE_GIT_HOSTS, refuse remotes that resolve inward.

    Checked right before each connection (not only when the URL was saved), on every
    address the name resolves to, so a name that later points inward is still refused.
    """
    if not settings.BLOCK_PRIVATE_GIT_HOSTS:
        return
    host = (url_host(url) or "").strip("[]")
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return  # git reports the failed lookup itself
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified:
            raise GitError(
                f"{host} resolves to {address} (loopback, private or link-local): blocked by DOCKHAND_BLOCK_PRIVATE_GIT_HOSTS"
            )


def is_valid_branch_name(name: str) -> bool:
    """git's own rule for branch names (`git check-ref-format --branch`)."""
    done = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, timeout=10, cwd="/")
    return done.returncode == 0


def remote_head(*, url: str, branch: str, auth: GitAuth | None) -> str:
    """The sha the branch points at on the remote, without fetching any objects."""
    _refuse(url, auth)
    with _environment(auth) as env:
        try:
            out = git.cmd.Git().execute(
                ["git", "ls-remote", "--heads", "--", url, f"refs/heads/{branch}"],
                env=env,
                kill_after_timeout=settings.GIT_TIMEOUT,
            )
        except git.GitCommandError as exc:
            raise _error(exc, auth, "Failed to read the remote", url) from exc
    for line in str(out).splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    raise _branch_missing(branch, url)


def _branch_missing(branch: str, url: str) -> BranchMissing:
    return BranchMissing(f"Branch {branch!r} does not exist in {url}")


@dataclass(frozen=True)
class Branches:
    """The branches a remote has: `heads` maps each name to its commit, the remote's
    default branch first (when it names one), then by name."""

    heads: dict[str, str]
    default: str | None

    @property
    def names(self) -> list[str]:
        return list(self.heads)


def remote_branches(*, url: str, auth: GitAuth | None) -> Branches:
    """Every branch of the remote and its default one, from one `ls-remote` (no objects)."""
    _refuse(url, auth)
    with _environment(auth) as env:
        try:
            out = git.cmd.Git().execute(
                ["git", "ls-remote", "--symref", "--", url, "HEAD", "refs/heads/*"],
                env=env,
                kill_after_timeout=settings.GIT_TIMEOUT,
            )
        except git.GitCommandError as exc:
            raise _error(exc, auth, "Failed to list the branches", url) from exc
    heads: dict[str, str] = {}
    default = None
    for line in str(out).splitlines():
        left, _, ref = line.partition("\t")
        if left.startswith("ref: refs/heads/") and ref == "HEAD":
            default = left.removeprefix("ref: refs/heads/")
        elif ref.startswith("refs/heads/") and _SHA.match(left):
            heads[ref.removeprefix("refs/heads/")] = left
    ordered = sorted(heads, key=lambda name: (name != default, name))
    return Branches(heads={name: heads[name] for name in ordered}, default=default if default in heads else None)


# A listing fetches trees only where the server allows (`--filter=blob:none`); one that
# does not sends the whole snapshot, so the scratch copy is watched and cut off here.
LISTING_MAX_BYTES = 64 * 1024 * 1024


def branch_files(*, url: str, branch: str, auth: GitAuth | None, max_bytes: int | None = None) -> list[str]:
    """The paths of the files at the head of `branch`, read from a shallow clone without
    file contents into a scratch repository that is removed afterwards. Bounded by
    DOCKHAND_GIT_TIMEOUT and `max_bytes` (default LISTING_MAX_BYTES; ListingTooLarge);
    BranchMissing when the branch is not there."""
    with _shallow_tree(url=url, branch=branch, auth=auth, max_bytes=max_bytes) as (runner, env):
        try:
            return _listing(runner, env)
        except git.GitCommandError as exc:
            raise _error(exc, auth, "Failed to list the files", url) from exc


@dataclass(frozen=True)
class HeadFile:
    """One file at the head of a branch: the commit, its text (None: no such file)
    and every path of that commit (to check the paths the file names)."""

    commit: str
    text: str | None
    files: list[str]


# An in-repository configuration file is small; a bigger one is refused unread.
HEAD_FILE_MAX_BYTES = 256 * 1024


def head_file(*, url: str, branch: str, path: str, auth: GitAuth | None) -> HeadFile:
    """The text of `path` at the head of `branch` (UTF-8), from the same bounded
    shallow clone as `branch_files`: only that one blob is fetched. GitError when it is
    over HEAD_FILE_MAX_BYTES or not text."""
    with _shallow_tree(url=url, branch=branch, auth=auth, max_bytes=None) as (runner, env):
        try:
            commit = str(runner.execute(["git", "rev-parse", "HEAD"], env=env)).strip()
            files = _listing(runner, env)
            if path not in files:
                return HeadFile(commit=commit, text=None, files=files)
            # Reading the blob fetches it (the clone has none): bounded like the clone.
            size = int(
                str(
                    runner.execute(
                        ["git", "cat-file", "-s", f"HEAD:{path}"], env=env, kill_after_timeout=settings.GIT_TIMEOUT
                    )
                )
            )
            if size > HEAD_FILE_MAX_BYTES:
                raise GitError(f"{path} is {size} bytes: at most {HEAD_FILE_MAX_BYTES} are read")
            data = runner.execute(
                ["git", "cat-file", "blob", f"HEAD:{path}"],
                env=env,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
            )
        except git.GitCommandError as exc:
            raise _error(exc, auth, f"Failed to read {path}", url) from exc
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GitError(f"{path} is not UTF-8 text") from exc
    return HeadFile(commit=commit, text=text, files=files)


@contextmanager
def _shallow_tree(
    *, url: str, branch: str, auth: GitAuth | None, max_bytes: int | None
) -> Iterator[tuple[git.cmd.Git, dict[str, str]]]:
    """A bare, depth-1 clone of the branch head without file contents, in a scratch
    directory removed afterwards; git's runner and environment in it."""
    _refuse(url, auth)
    with _environment(auth) as env:
        scratch = Path(tempfile.mkdtemp(prefix="git-list-", dir=settings.RUN_DIR))
        try:
            clone = [
                "git",
                "clone",
                "--bare",
                "--quiet",
                "--depth=1",
                "--filter=blob:none",
                "--no-tags",
                "--single-branch",
                f"--branch={branch}",
                "--",
                url,
                str(scratch / "repo"),
            ]
            limit = LISTING_MAX_BYTES if max_bytes is None else max_bytes
            try:
                _run_bounded(clone, env=env, cwd=scratch, watch=scratch, max_bytes=limit)
            except git.GitCommandError as exc:
                raise _error(exc, auth, "Failed to list the files", url) from exc
            yield git.cmd.Git(scratch / "repo"), env
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _listing(runner: git.cmd.Git, env: dict[str, str]) -> list[str]:
    listed = runner.execute(["git", "ls-tree", "-r", "-z", "--name-only", "HEAD"], env=env)
    return [path for path in str(listed).split("\0") if path]


def _run_bounded(args: list[str], *, env: dict[str, str], cwd: Path, watch: Path, max_bytes: int) -> None:
    """Run git, killing it (and the helpers it started) when it outlives
    DOCKHAND_GIT_TIMEOUT or `watch` grows past `max_bytes`; git's failure as GitCommandError."""
    deadline = time.monotonic() + settings.GIT_TIMEOUT
    # stderr to a file: a server can say a lot, and a full pipe would stall git.
    with tempfile.TemporaryFile(dir=settings.RUN_DIR) as stderr:
        # A session of its own: git's helpers (remote-https, index-pack) are killed with it.
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise _timed_out("Failed to list the files")
                if _size(watch) > max_bytes:
                    raise ListingTooLarge(f"The branch's files take more than {max_bytes // (1024 * 1024)} MB to list")
                time.sleep(0.05)
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.returncode != 0:
            stderr.seek(0)
            said = stderr.read(8192).decode(errors="replace")
            raise git.GitCommandError(args[:2], process.returncode, said)


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # git renames its temporary files as it goes
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def checkout(*, workdir: Path, url: str, branch: str, auth: GitAuth | None, commit: str = "") -> Commit:
    """Bring `workdir` to exactly the branch head (or `commit`, for a rollback),
    whatever happened to it upstream.

    A shallow fetch with a forced refspec handles force-pushes; a forced checkout
    handles changed and deleted files. Untracked files are left alone on purpose:
    compose bind mounts often keep data beside the compose file. A commit deployed
    before is usually still in the working copy; otherwise it is fetched by id.
    """
    if commit and not _SHA.match(commit):
        raise GitError(f"{commit!r} is not a commit id")
    _refuse(url, auth)
    workdir.mkdir(parents=True, exist_ok=True)
    # The product runs with umask 077 (dockhand/datadir.py), but the working copy's
    # files are what compose bind-mounts into containers, whose processes often run as
    # another user (nginx's workers, say): they keep the modes a usual umask gives.
    # Other users of this machine still cannot reach them: the data dir is 0700.
    workdir.chmod(0o755)
    # One runner, one environment: every command (init and log included) runs hardened.
    runner = git.cmd.Git(workdir)
    with _environment(auth) as env:
        try:
            if not (workdir / ".git").is_dir():
                runner.execute(["git", "init", "--quiet"], env=env)
            target = _fetch(runner, env, url=url, branch=branch, commit=commit)
            runner.execute(["git", "checkout", "--force", "--detach", target], env=env, umask=_WORKING_COPY_UMASK)
            return _commit_info(runner, env, "HEAD")
        except git.GitCommandError as exc:
            if not commit and _NO_SUCH_REF in (exc.stderr or ""):
                raise _branch_missing(branch, url) from exc  # as `remote_head` says it
            raise _error(exc, auth, "Failed to pull from repository", url) from exc


def checked_out(workdir: Path) -> str | None:
    """The commit the working copy has checked out, or None when there is none. Read
    without running git: `checkout` always detaches, so HEAD holds the commit id."""
    try:
        head = (workdir / ".git" / "HEAD").read_text(errors="replace").strip()
    except OSError:
        return None
    return head if _SHA.match(head) else None


_SHORT_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def commit_on_branch(*, url: str, branch: str, commit: str, auth: GitAuth | None) -> str | None:
    """The full id of `commit` (full or abbreviated) when it is in the history of the
    branch on the remote, else None. GitError when the remote cannot be read.

    The branch's whole history is fetched into a throwaway repository: the stack's own
    working copy is shallow, and a sync may be using it right now."""
    if not _SHORT_SHA.fullmatch(commit):
        raise GitError(f"{commit!r} is not a commit id")
    _refuse(url, auth)
    with _environment(auth) as env:
        scratch = Path(tempfile.mkdtemp(prefix="git-reach-", dir=settings.RUN_DIR))
        runner = git.cmd.Git(scratch)
        try:
            runner.execute(["git", "init", "--quiet", "--bare"], env=env)
            tracking = "refs/remotes/origin/branch"
            runner.execute(
                ["git", "fetch", "--no-tags", "--quiet", "--", url, f"+refs/heads/{branch}:{tracking}"],
                env=env,
                kill_after_timeout=settings.GIT_TIMEOUT,
            )
            try:
                full = str(runner.execute(["git", "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], env=env))
                runner.execute(["git", "merge-base", "--is-ancestor", full, tracking], env=env)
            except git.GitCommandError:
                return None  # unknown here, or not an ancestor of the branch head
            return full.strip()
        except git.GitCommandError as exc:
            raise _error(exc, auth, "Failed to read the branch", url) from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


# What `git fetch` says of a branch the remote does not have.
_NO_SUCH_REF = "couldn't find remote ref"


def _fetch(runner: git.cmd.Git, env: dict[str, str], *, url: str, branch: str, commit: str = "") -> str:
    """Fetch the branch head (or a commit not yet here); returns what to check out.

    From the URL itself rather than a configured remote: nothing to keep in step in
    .git/config, and two git runs fewer per deploy."""
    if commit and _has_commit(runner, env, commit):
        return commit
    tracking = f"refs/remotes/origin/{branch}"
    runner.execute(
        ["git", "fetch", "--depth=1", "--no-tags", "--", url, commit or f"+refs/heads/{branch}:{tracking}"],
        env=env,
        kill_after_timeout=settings.GIT_TIMEOUT,
    )
    return commit or tracking


def _commit_info(runner: git.cmd.Git, env: dict[str, str], rev: str) -> Commit:
    sha, author, message = str(
        runner.execute(
            ["git", "log", "-1", "--format=%H%x00%an <%ae>%x00%B", rev, "--"], env=env, strip_newline_in_stdout=False
        )
    ).split("\x00", 2)
    return Commit(sha=sha.strip(), message=message.strip(), author=author)


def branch_changes(
    *, workdir: Path, url: str, branch: str, auth: GitAuth | None, base: str
) -> tuple[Commit, list[tuple[str, str]]]:
    """Fetch the branch head beside the deployed commit `base` (nothing is checked
    out) and list the files that differ: (A|M|D|T, path)."""
    if not (workdir / ".git").is_dir():
        raise GitError("This stack has no working copy yet: sync it first")
    _refuse(url, auth)
    runner = git.cmd.Git(workdir)
    with _environment(auth) as env:
        try:
            head = _commit_info(runner, env, _fetch(runner, env, url=url, branch=branch))
            if base and _SHA.match(base):
                _fetch(runner, env, url=url, branch=branch, commit=base)
                out = runner.execute(["git", "diff", "--name-status", "--no-renames", base, head.sha, "--"], env=env)
            else:
                listed = runner.execute(["git", "ls-tree", "-r", "--name-only", head.sha], env=env)
                out = "\n".join(f"A\t{path}" for path in str(listed).splitlines())
        except git.GitCommandError as exc:
            raise _error(exc, auth, "Failed to compare with the branch", url) from exc
    changes = [tuple(line.split("\t", 1)) for line in str(out).splitlines() if "\t" in line]
    return head, [(status, path) for status, path in changes]


def file_diffs(*, workdir: Path, base: str, head: str, paths: list[str], max_lines: int = 400) -> dict[str, str]:
    """The unified diff of each of `paths` between two commits already in the working
    copy (`branch_changes` fetched them), each cut to `max_lines`. Nothing is fetched."""
    if not (_SHA.match(base) and _SHA.match(head)):
        raise GitError("Both sides of a diff must be commit ids")
    runner = git.cmd.Git(workdir)
    diffs: dict[str, str] = {}
    with _environment(None) as env:
        for path in paths:
            try:
                out = str(
                    runner.execute(
                        [
                            "git",
                            "--literal-pathspecs",
                            "diff",
                            "--no-color",
                            "--no-renames",
                            "--no-ext-diff",
                            base,
                            head,
                            "--",
                            path,
                        ],
                        env=env,
                        strip_newline_in_stdout=False,
                    )
                )
            except git.GitCommandError as exc:
                raise GitError(f"Could not compare {path}: {exc.stderr.strip()}") from exc
            lines = out.splitlines()
            if len(lines) > max_lines:
                lines = [*lines[:max_lines], f"… {len(lines) - max_lines} more lines"]
            diffs[path] = "\n".join(lines)
    return diffs


@contextmanager
def tree_of(workdir: Path, sha: str) -> Iterator[Path]:
    """A temporary checkout of `sha` beside the working copy (a git worktree), removed after."""
    if not _SHA.match(sha):
        raise GitError(f"{sha!r} is not a commit id")
    runner = git.cmd.Git(workdir)
    with _environment(None) as env:
        tree = Path(tempfile.mkdtemp(prefix="git-tree-", dir=settings.RUN_DIR))
        try:
            runner.execute(["git", "worktree", "add", "--detach", "--force", str(tree), sha], env=env)
            yield tree
        except git.GitCommandError as exc:
            raise GitError(f"Could not check out {sha[:12]} for comparison: {exc.stderr.strip()}") from exc
        finally:
            with contextlib.suppress(git.GitCommandError):
                runner.execute(["git", "worktree", "remove", "--force", str(tree)], env=env)
            shutil.rmtree(tree, ignore_errors=True)
            with contextlib.suppress(git.GitCommandError):
                runner.execute(["git", "worktree", "prune"], env=env)
