"""The API fuzzed against its own contract: schemathesis over every operation of
GET /api/schema, against the live product, with a `deploy:admin` bearer token.

Run alone (it refuses to run with any network but loopback: generated inputs include
arbitrary hosts for repository URLs and engine addresses, and no packet may leave):

    unshare -n python -m tests.support.fuzz [--max-examples N] [-- extra schemathesis args]

`tests/e2e/test_api_fuzz.py` runs exactly that in `make test`. The product and a git
server with one repository and one stack are started inside the namespace, so the
fuzzer also meets ids that exist.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.docker import ensure_image, remove_project
from tests.support.gitserver import start_git_server
from tests.support.product import ApiClient, running_product

PASSWORD = "fuzz-admin-password"
GIT_USER, GIT_TOKEN = "fuzzer", "fuzz-git-token"
# The checks the issue names: no 5xx, answers as the schema says, and only its statuses.
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def only_loopback() -> bool:
    """True inside a network namespace whose one interface is `lo` (netlink asks this
    namespace; /sys/class/net would show the host's without a mount namespace too)."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout.splitlines()
    return [line.split(":")[1].strip() for line in links] == ["lo"]


def seed(product_url: str, git_prefix: str, repo_url: str, image: str) -> str:
    """A credential, a repository and a stack to meet; answers a `deploy:admin` token."""
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
    token = admin.post("/api/tokens", {"name": "fuzz", "scopes": ["deploy:admin"]})
    assert token.status_code == 201, token.text
    return str(token.json()["token"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("DOCKHAND_FUZZ_EXAMPLES", "12")))
    parser.add_argument("extra", nargs="*", help="more schemathesis arguments (after --)")
    args = parser.parse_args()
    if not only_loopback():
        print("fuzz: refusing to run with a network beyond loopback; run it under `unshare -n`", file=sys.stderr)
        return 2
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    image = ensure_image()
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
                token = seed(product.url, git_server.prefix, repo.url, image)
                command = [
                    sys.executable,
                    "-m",
                    "schemathesis.cli",
                    "run",
                    f"{product.url}/api/schema",
                    "--url",
                    product.url,
                    "--header",
                    f"Authorization: Bearer {token}",
                    "--checks",
                    CHECKS,
                    "--max-examples",
                    str(args.max_examples),
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
                    # Its own token revoked, the fuzzer would test nothing but 401s after.
                    "--exclude-path",
                    "/api/tokens/{id}",
                    "--exclude-path",
                    "/api/auth/logout",
                    # A project by name is any compose project on this machine's engine,
                    # which the rest of the suite shares: stopping or removing one that a
                    # name happened to match would break another test, not this product.
                    "--exclude-path-regex",
                    r"^/api/projects/\{name\}",
                    *args.extra,
                ]
                # In the temporary directory: schemathesis keeps a cache where it runs.
                result = subprocess.run(command, cwd=root)
                if result.returncode != 0:
                    print(product.log(), file=sys.stderr)
                return result.returncode
        finally:
            git_server.stop()
            # Stacks the fuzzer deployed are compose projects named after them.
            for line in subprocess.run(
                [
                    "docker",
                    "ps",
                    "-a",
                    "--filter",
                    "label=com.docker.compose.project.working_dir",
                    "--format",
                    '{{.Label "com.docker.compose.project"}} {{.Label "com.docker.compose.project.working_dir"}}',
                ],
                capture_output=True,
                text=True,
            ).stdout.splitlines():
                project, _, workdir = line.partition(" ")
                if workdir.startswith(str(root)):
                    remove_project(project)


if __name__ == "__main__":
    sys.exit(main())
