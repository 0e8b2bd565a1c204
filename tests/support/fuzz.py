"""The API fuzzed against its own contract: schemathesis over every operation of
GET /api/schema, against the live product.

Run alone (it refuses to run with any network but loopback: generated inputs include
arbitrary hosts for repository URLs and engine addresses, and no packet may leave):

    unshare -n python -m tests.support.fuzz [--max-examples N] [-- extra schemathesis args]

`tests/e2e/test_api_fuzz.py` runs exactly that in `make test`. The product and a git
server with one repository and one stack are started inside the namespace, so the
fuzzer also meets ids that exist. Two passes:

- first, the operations that end a caller or act on the engine's compose projects
  (log out, revoke a token, `/api/projects/{name}…`), each with a caller of its own
  (tests/support/fuzz_hooks.py) and `{name}` kept to a project this run made: the
  engine is the machine's, shared with the rest of the suite;
- then every other operation with a `deploy:admin` bearer token made after the first
  pass, so nothing that pass revoked or logged out is in its way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from tests.support.docker import ensure_image, remove_project
from tests.support.gitserver import start_git_server
from tests.support.product import ApiClient, running_product

PASSWORD = "fuzz-admin-password"
GIT_USER, GIT_TOKEN = "fuzzer", "fuzz-git-token"
# The checks the issue names: no 5xx, answers as the schema says, and only its statuses.
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
HOOKS = Path(__file__).with_name("fuzz_hooks.py")
# The first pass's: what would end the main pass's caller or reach other tests' projects.
OWN_CALLER_PATHS = r"^/api/(auth/logout|tokens/\{id\}|projects/\{name\})"


def only_loopback() -> bool:
    """True inside a network namespace whose one interface is `lo` (netlink asks this
    namespace; /sys/class/net would show the host's without a mount namespace too)."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout.splitlines()
    return [line.split(":")[1].strip() for line in links] == ["lo"]


def seed(product_url: str, git_prefix: str, repo_url: str) -> int:
    """A credential, a repository, a stack and a deployment to meet; answers the
    repository's id."""
    admin = ApiClient(product_url, "admin", PASSWORD)
    credential = admin.post(
        "/api/git/credentials",
        {"name": "fuzz", "authType": "token", "username": GIT_USER, "token": GIT_TOKEN, "urlPrefixes": [git_prefix]},
    )
    assert credential.status_code == 201, credential.text
    credential_id = credential.json()["id"]
    repository = admin.post("/api/git/repositories", {"url": repo_url, "credentialId": credential_id})
    assert repository.status_code == 201, repository.text
    stack = admin.post("/api/git/stacks", {"stackName": "fuzzed", "url": repo_url, "credentialId": credential_id})
    assert stack.status_code == 201, stack.text
    # A deployment to meet too (ids are small: the generators try them).
    synced = admin.post(f"/api/git/stacks/{stack.json()['id']}/sync")
    assert synced.status_code == 200, synced.text
    return int(repository.json()["id"])


def admin_token(product_url: str, name: str) -> dict[str, object]:
    """A new `deploy:admin` token: its id and its secret."""
    made = ApiClient(product_url, "admin", PASSWORD).post("/api/tokens", {"name": name, "scopes": ["deploy:admin"]})
    assert made.status_code == 201, made.text
    return {"id": made.json()["id"], "token": made.json()["token"]}


def seed_project(root: Path, name: str, image: str) -> None:
    """An unmanaged compose project named `name` for `/api/projects/{name}` to act on."""
    directory = root / name
    directory.mkdir()
    (directory / "compose.yaml").write_text(
        f"services:\n  idle:\n    image: {image}\n    pull_policy: never\n    command: sleep 600\n"
        "    stop_grace_period: 1s\n"
    )
    subprocess.run(
        ["docker", "compose", "-p", name, "up", "-d", "--quiet-pull"], cwd=directory, check=True, capture_output=True
    )


def schemathesis(product_url: str, max_examples: int, *args: str) -> list[str]:
    """The schemathesis command both passes share; `args` choose operations and callers."""
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{product_url}/api/schema",
        "--url",
        product_url,
        "--checks",
        CHECKS,
        "--max-examples",
        str(max_examples),
        "--phases",
        "examples,coverage,fuzzing",
        # One worker: hypothesis' lambda descriptions are not thread-safe
        # (an internal "AST constructor recursion depth mismatch" with two).
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--seed",
        os.environ.get("DOCKHAND_FUZZ_SEED", "14"),
        "--generation-database",
        "none",
        *args,
    ]


def own_callers_pass(product_url: str, root: Path, project: str, repository: int, max_examples: int) -> int:
    """Log out, revoke a token and act on projects, each with a caller that nothing else
    in the run needs: a throwaway token (and another token for it to revoke), and two
    admin cookie sessions that the hooks log in."""
    settings = {
        "url": product_url,
        "password": PASSWORD,
        "project": project,
        "repository": repository,
        "token": admin_token(product_url, "fuzz-revoker")["token"],
        "token_target": admin_token(product_url, "fuzz-revoked")["id"],
    }
    command = schemathesis(product_url, max_examples, "--include-path-regex", OWN_CALLER_PATHS)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "DOCKHAND_FUZZ_OWN_CALLERS": json.dumps(settings)}
    return subprocess.run(command, cwd=root, env=env).returncode


def main_pass(product_url: str, root: Path, max_examples: int, extra: list[str]) -> int:
    """Every other operation with a `deploy:admin` bearer token."""
    token = admin_token(product_url, "fuzz")["token"]
    command = schemathesis(
        product_url,
        max_examples,
        "--header",
        f"Authorization: Bearer {token}",
        # The first pass's, with their own callers and names.
        "--exclude-path-regex",
        OWN_CALLER_PATHS,
        *extra,
    )
    # In the temporary directory: schemathesis keeps a cache where it runs.
    return subprocess.run(command, cwd=root).returncode


def remove_projects(root: Path, prefix: str) -> None:
    """The compose projects this run made: stacks the fuzzer deployed (named after them,
    working copies under `root`) and the seeded project (its name starts with `prefix`)."""
    listed = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            '{{.Label "com.docker.compose.project"}} {{.Label "com.docker.compose.project.working_dir"}}',
        ],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    for line in listed:
        project, _, workdir = line.partition(" ")
        if workdir.startswith(str(root)) or project.startswith(prefix):
            remove_project(project)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("DOCKHAND_FUZZ_EXAMPLES", "12")))
    parser.add_argument("extra", nargs="*", help="more schemathesis arguments for the main pass (after --)")
    args = parser.parse_args()
    if not only_loopback():
        print("fuzz: refusing to run with a network beyond loopback; run it under `unshare -n`", file=sys.stderr)
        return 2
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # No other project on the engine starts with it.
    run = f"fz{uuid.uuid4().hex[:10]}"
    # The run's own tag of the test image: a generated `down` with `images=true` removes
    # the images a project used, and then only untags this one.
    image = f"dockhand-fuzz/busybox:{run}"
    subprocess.run(["docker", "tag", ensure_image(), image], check=True)
    with tempfile.TemporaryDirectory(prefix="dockhand-fuzz-") as tmp:
        root = Path(tmp)
        git_server = start_git_server(root / "git", GIT_USER, GIT_TOKEN)
        repo = git_server.create_repo(
            "app",
            {
                "compose.yaml": f"services:\n  web:\n    image: {image}\n    pull_policy: never\n    command: sleep 600\n"
            },
        )
        env = {
            # Thousands of calls with one token, and failed logins from one address.
            "DOCKHAND_RATELIMIT_TOKEN_CALLS": "1000000",
            "DOCKHAND_RATELIMIT_BAD_TOKENS": "1000000",
            "DOCKHAND_RATELIMIT_LOGIN_FAILURES": "1000000",
            "DOCKHAND_RATELIMIT_WEBHOOK_FAILURES": "1000000",
            "DOCKHAND_SYNC_WAIT_TIMEOUT": "5",
            # /metrics answers the fuzzer (on loopback) instead of refusing every call.
            "DOCKHAND_METRICS_ALLOW": "127.0.0.1/32",
            "DOCKHAND_GIT_TIMEOUT": "10",
        }
        try:
            with running_product(root / "data", PASSWORD, env) as product:
                product.wait_healthy(90)
                repository = seed(product.url, git_server.prefix, repo.url)
                seed_project(root, run, image)
                # Half the examples: eight operations, most of them acting on the engine.
                first = own_callers_pass(product.url, root, run, repository, max(args.max_examples // 2, 1))
                main = main_pass(product.url, root, args.max_examples, args.extra)
                if first or main:
                    print(product.log(), file=sys.stderr)
                return first or main
        finally:
            git_server.stop()
            remove_projects(root, run)
            subprocess.run(["docker", "image", "rm", image], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
