"""A credential goes only where whoever made it said: its URL prefixes, its environments,
and plain http only when allowed. Refused when a stack or repository is saved with it
(a 400 naming the field, nothing contacted, nothing deployed) and again right before git
runs (a URL changed behind the API's back gets no secret). A repository's webhook
secret is shown only to those who administer every stack it deploys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from rest_framework.test import APIClient

from gitsync.models import Credential, Repository
from stacks.models import Deployment, Environment, GitStack, Membership
from stacks.services.stacks import local_environment
from tests.conftest import GIT_TOKEN, GIT_USER
from tests.support.listener import Listener

pytestmark = pytest.mark.django_db

TOKEN = "ghp-Scoped-Token-4c1d9e"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
NOWHERE = "192.0.2.10"  # TEST-NET-1: routed nowhere, so a connection would hang, not fail fast


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _credential(api: APIClient, name: str = "scoped", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "authType": "token", "username": GIT_USER, "token": TOKEN, **fields}
    response = api.post("/api/git/credentials", body, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def _refused(response: Any, field: str, message: str) -> None:
    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": f"{field}: {message}",
        "code": "validation_error",
        "fields": {field: [message]},
    }


def _admin_of(*environments: Environment, name: str) -> Any:
    user = get_user_model().objects.create_user(username=name, password=f"{name}-pass-123")
    for environment in environments:
        Membership.objects.create(user=user, environment=environment, role=Membership.Role.ADMIN)
    return user


# -- a stack saved with a credential, on a URL outside its prefixes ----------------------


@pytest.mark.parametrize(
    ("path", "read_as"),
    [
        ("{p}team-b/app.git", None),  # another path
        ("{p}team-a-evil/app.git", None),  # a prefix of the text, not of the segments
        ("{p}team-a/../team-b/app.git", "{p}team-b/app.git"),  # climbing out
        ("{p}team-a/%2e%2e/team-b/app.git", "{p}team-b/app.git"),  # climbing out, escaped
        ("{p}team-a/./%2E%2e/team-b/app.git", "{p}team-b/app.git"),
        ("http://127.0.0.2:{port}/team-a/app.git", None),  # another host
        ("http://localhost:{port}/team-a/app.git", None),  # the same machine, another name
        ("http://127.0.0.1:{other}/team-a/app.git", None),  # another port
        ("https://127.0.0.1:{port}/team-a/app.git", None),  # another scheme
    ],
)
def test_an_environment_admin_cannot_point_a_credential_elsewhere(
    api: APIClient, env_admin: Any, listener: Listener, path: str, read_as: str | None
) -> None:
    prefix = f"{listener.prefix}team-a/"
    cred = _credential(api, urlPrefixes=[prefix])
    spell = {"p": listener.prefix, "port": listener.port, "other": listener.port + 1}
    url = path.format(**spell)
    shown = url if read_as is None else f"{url} (read as {read_as.format(**spell)})"
    body = {"stackName": "grab", "url": url, "credentialId": cred["id"], "deployNow": True}

    response = _client(env_admin).post("/api/git/stacks", body, format="json")

    _refused(response, "credentialId", f"{shown} is outside the URL prefixes of credential 'scoped' ({prefix})")
    assert not GitStack.objects.exists() and not Repository.objects.exists() and not Deployment.objects.exists()
    assert listener.connections == 0


def test_a_deployer_is_refused_as_well(api: APIClient, deployer: Any, listener: Listener) -> None:
    cred = _credential(api, urlPrefixes=[f"{listener.prefix}team-a/"])
    body = {"stackName": "grab", "url": f"{listener.prefix}team-b/x.git", "credentialId": cred["id"]}
    response = _client(deployer).post("/api/git/stacks", body, format="json")
    assert response.status_code in (400, 403), response.content
    assert not GitStack.objects.exists() and listener.connections == 0


def test_userinfo_cannot_smuggle_another_host(api: APIClient, env_admin: Any, listener: Listener) -> None:
    # https: credentials in a URL are refused outright (the url field).
    cred = _credential(api, urlPrefixes=["https://good.example/"])
    body = {"stackName": "grab", "url": "https://good.example@evil.example/app.git", "credentialId": cred["id"]}
    _refused(
        _client(env_admin).post("/api/git/stacks", body, format="json"),
        "url",
        "must not contain credentials: use a credential",
    )
    # ssh: a user name is allowed, and the host is what follows the last @.
    key = _credential(api, "key", authType="ssh", sshPrivateKey=KEY, urlPrefixes=["ssh://git@good.example/"])
    tricked = f"ssh://good.example@127.0.0.1:{listener.port}/app.git"
    body = {"stackName": "grab", "url": tricked, "credentialId": key["id"]}
    _refused(
        _client(env_admin).post("/api/git/stacks", body, format="json"),
        "credentialId",
        f"{tricked} is outside the URL prefixes of credential 'key' (ssh://git@good.example/)",
    )
    assert not GitStack.objects.exists() and listener.connections == 0


def test_other_spellings_of_the_same_place_are_the_same_place(api: APIClient, env_admin: Any) -> None:
    cred = _credential(api, urlPrefixes=["HTTPS://Git.Example.test.:443/Team-A"])
    assert cred["urlPrefixes"] == ["https://git.example.test/Team-A/"]
    client = _client(env_admin)
    for index, url in enumerate(
        ("https://GIT.example.test/Team-A/app.git", "https://git.example.test:443/Team-A/sub/../app.git")
    ):
        made = client.post(
            "/api/git/stacks?check=false",
            {"stackName": f"ok-{index}", "url": url, "credentialId": cred["id"]},
            format="json",
        )
        assert made.status_code == 201, made.content
    # …and a port that is not the default one, or a name that only starts alike, is another place.
    for url in ("https://git.example.test:8443/Team-A/app.git", "https://git.example.test.evil.example/Team-A/x.git"):
        body = {"stackName": "other", "url": url, "credentialId": cred["id"]}
        _refused(
            client.post("/api/git/stacks", body, format="json"),
            "credentialId",
            f"{url} is outside the URL prefixes of credential 'scoped' (https://git.example.test/Team-A/)",
        )
    # A trailing dot in a repository URL is no valid host at all.
    body = {"stackName": "dot", "url": "https://git.example.test./Team-A/app.git", "credentialId": cred["id"]}
    _refused(client.post("/api/git/stacks", body, format="json"), "url", "must name a valid host")


def test_an_ssh_key_goes_only_over_ssh_and_scp_urls_match_ssh_prefixes(api: APIClient, env_admin: Any) -> None:
    key = _credential(api, "key", authType="ssh", sshPrivateKey=KEY, urlPrefixes=["git@Forge.example:team/"])
    assert key["urlPrefixes"] == ["ssh://git@forge.example/team/"]
    client = _client(env_admin)
    body = {"stackName": "scp", "url": "git@forge.example:team/app.git", "credentialId": key["id"]}
    assert client.post("/api/git/stacks?check=false", body, format="json").status_code == 201
    body = {"stackName": "https", "url": "https://forge.example/team/app.git", "credentialId": key["id"]}
    _refused(
        client.post("/api/git/stacks", body, format="json"),
        "credentialId",
        "credential 'key' is an SSH key: it is sent only to ssh:// or user@host:path URLs",
    )


# -- environments ------------------------------------------------------------------------


def test_a_credential_limited_to_one_environment_is_refused_in_another(api: APIClient, listener: Listener) -> None:
    local, edge = local_environment(), Environment.objects.create(name="edge")
    edge_admin = _admin_of(edge, name="edgeadmin")
    url = f"{listener.prefix}team-a/app.git"
    cred = _credential(api, urlPrefixes=[listener.prefix], environmentIds=[local.pk])
    refusal = "credential 'scoped' may not be used in environment 'edge' (it is limited to other environments)"

    # By URL and credential.
    body = {"stackName": "grab", "url": url, "credentialId": cred["id"], "environmentId": edge.pk, "deployNow": True}
    _refused(_client(edge_admin).post("/api/git/stacks", body, format="json"), "credentialId", refusal)
    # By a repository that carries it (made by an owner for the local environment).
    home = api.post(
        "/api/git/stacks?check=false", {"stackName": "home", "url": url, "credentialId": cred["id"]}, format="json"
    )
    assert home.status_code == 201, home.content
    body = {"stackName": "grab", "repositoryId": home.json()["repositoryId"], "environmentId": edge.pk}
    _refused(_client(edge_admin).post("/api/git/stacks", body, format="json"), "repositoryId", refusal)
    # By moving a stack there.
    moved = api.put(f"/api/git/stacks/{home.json()['id']}", {"environmentId": edge.pk}, format="json")
    _refused(moved, "repositoryId", refusal)
    assert list(GitStack.objects.values_list("name", "environment__name")) == [("home", "local")]
    assert not Deployment.objects.exists() and listener.connections == 0


def test_a_credential_in_use_is_not_narrowed_under_its_stacks(api: APIClient, listener: Listener) -> None:
    edge = Environment.objects.create(name="edge")
    cred = _credential(api, urlPrefixes=[listener.prefix])
    url = f"{listener.prefix}team-a/app.git"
    assert (
        api.post(
            "/api/git/stacks?check=false", {"stackName": "s", "url": url, "credentialId": cred["id"]}, format="json"
        ).status_code
        == 201
    )
    uses = "repository 'app' uses this credential: "

    narrowed = api.put(f"/api/git/credentials/{cred['id']}", {"environmentIds": [edge.pk]}, format="json")
    _refused(
        narrowed,
        "environmentIds",
        uses + "credential 'scoped' may not be used in environment 'local' (it is limited to other environments)",
    )
    moved = api.put(f"/api/git/credentials/{cred['id']}", {"urlPrefixes": [f"{listener.prefix}team-b/"]}, format="json")
    _refused(
        moved,
        "urlPrefixes",
        uses + f"{url} is outside the URL prefixes of credential 'scoped' ({listener.prefix}team-b/)",
    )
    assert Credential.objects.get().url_prefixes == [listener.prefix]


# -- repositories saved by an owner ------------------------------------------------------


def test_a_repository_is_not_saved_with_a_credential_outside_its_scope(api: APIClient, listener: Listener) -> None:
    cred = _credential(api, urlPrefixes=[f"{listener.prefix}team-a/"])
    outside = f"{listener.prefix}team-b/app.git"
    message = f"{outside} is outside the URL prefixes of credential 'scoped' ({listener.prefix}team-a/)"
    body = {"url": outside, "credentialId": cred["id"]}
    _refused(api.post("/api/git/repositories", body, format="json"), "credentialId", message)
    made = api.post(
        "/api/git/repositories", {"url": f"{listener.prefix}team-a/app.git", "credentialId": cred["id"]}, format="json"
    )
    assert made.status_code == 201, made.content
    _refused(
        api.put(f"/api/git/repositories/{made.json()['id']}", {"url": outside}, format="json"), "credentialId", message
    )
    assert listener.connections == 0


# -- plain http --------------------------------------------------------------------------


def test_a_token_over_plain_http_to_another_machine_needs_an_explicit_opt_in(api: APIClient) -> None:
    prefix = f"http://{NOWHERE}/team/"
    body = {"name": "lan", "authType": "token", "token": TOKEN, "urlPrefixes": [prefix]}
    _refused(
        api.post("/api/git/credentials", body, format="json"),
        "allowPlainHttp",
        f"{prefix} is plain http:// to a host other than loopback: anyone on the way reads a token;"
        " use https://, or allow plain http explicitly",
    )
    assert not Credential.objects.exists()
    # Loopback needs none; another machine does, said explicitly.
    _credential(api, "here", urlPrefixes=["http://127.0.0.1:3000/", "http://[::1]/", "http://localhost/"])
    assert _credential(api, "lan", urlPrefixes=[prefix], allowPlainHttp=True)["allowPlainHttp"] is True


def test_the_plain_http_opt_in_is_checked_again_before_git_runs(
    api: APIClient, compose_calls: list[str], settings: Any
) -> None:
    cred = _credential(api, "lan", urlPrefixes=[f"http://{NOWHERE}/team/"], allowPlainHttp=True)
    url = f"http://{NOWHERE}/team/app.git"
    stack = api.post(
        "/api/git/stacks?check=false", {"stackName": "s", "url": url, "credentialId": cred["id"]}, format="json"
    ).json()
    # Taking the opt-in back is refused while a repository relies on it …
    withdrawn = api.put(f"/api/git/credentials/{cred['id']}", {"allowPlainHttp": False}, format="json")
    assert withdrawn.status_code == 400 and "allowPlainHttp" in withdrawn.json()["fields"]
    # … so it is taken back behind the API's back: git must not run at all.
    Credential.objects.filter(pk=cred["id"]).update(allow_plain_http=False)
    settings.GIT_TIMEOUT = 30
    started = time.monotonic()

    answer = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")

    message = (
        f"The credential was not sent: credential 'lan' would be sent over plain http:// to {NOWHERE}:"
        " use https://, or allow plain http on the credential (allowPlainHttp)"
    )
    assert answer.json()["error"] == message, answer.content
    # A connection to TEST-NET-1 would have waited for git's timeout; none was tried.
    assert time.monotonic() - started < 10
    assert compose_calls == []
    assert Deployment.objects.get().error == message


# -- at use time: a URL changed behind the API's back ------------------------------------


def test_a_repository_moved_behind_the_apis_back_gets_no_secret(
    api: APIClient, token_credential: dict[str, Any], git_server: Any, listener: Listener, compose_calls: list[str]
) -> None:
    stack = api.post(
        "/api/git/stacks?check=false",
        {"stackName": "s", "url": git_server.url("app"), "credentialId": token_credential["id"]},
        format="json",
    ).json()
    moved = f"{listener.prefix}stolen.git"
    Repository.objects.filter(pk=stack["repositoryId"]).update(url=moved)

    answer = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")

    message = (
        f"The credential was not sent: {moved} is outside the URL prefixes of credential 'ci-token'"
        f" ({git_server.prefix})"
    )
    assert answer.status_code == 500 and answer.json()["error"] == message, answer.content
    assert listener.connections == 0 and listener.authorizations == []
    assert compose_calls == []
    # The "test connection" button of the repository page is held to the same rule.
    page = Client()
    page.force_login(get_user_model().objects.get(username="admin"))
    tested = page.post(f"/repositories/{stack['repositoryId']}/test/").content.decode()
    assert "The credential was not sent" in tested and "ci-token" in tested
    assert listener.connections == 0


def test_within_its_scope_the_secret_is_sent_which_is_what_the_others_prevent(
    api: APIClient, listener: Listener
) -> None:
    """The control: the same listener, inside the scope, does get the token. Without
    the checks above, each of them would have looked like this."""
    cred = _credential(api, urlPrefixes=[listener.prefix])
    url = f"{listener.prefix}team-a/app.git"
    stack = api.post(
        "/api/git/stacks?check=false", {"stackName": "s", "url": url, "credentialId": cred["id"]}, format="json"
    ).json()
    api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert listener.connections > 0 and f"{GIT_USER}:{TOKEN}" in listener.authorizations


# -- the upgrade -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_upgrade_scopes_each_credential_to_the_hosts_its_repositories_use(admin: Any) -> None:
    before = [("gitsync", "0003_webhook_delivery_moves_to_stacks")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        old_credential, old_repository = old.get_model("gitsync", "Credential"), old.get_model("gitsync", "Repository")
        made = {
            name: old_credential.objects.create(name=name, auth_type=kind, token="t", password="p")
            for name, kind in (("forge", "token"), ("lan", "password"), ("here", "token"), ("idle", "token"))
        }
        for url, name in (
            ("https://Git.Example.com:443/org/app.git", "forge"),
            ("https://git.example.com/org/other.git", "forge"),
            ("git@github.com:org/x.git", "forge"),
            ("http://gitea.lan:3000/x.git", "lan"),
            ("http://127.0.0.1:8080/x.git", "here"),
        ):
            old_repository.objects.create(name=url, url=url, credential=made[name])
        executor = MigrationExecutor(connection)
        executor.migrate([("gitsync", "0004_credential_scope")])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        # What `manage.py migrate` does after migrating: the stacks table was rebuilt and
        # lost its mark's triggers (stacks/services/table_clock.py), put back here for the
        # tests this worker runs next.
        emit_post_migrate_signal(0, False, connection.alias)

    scoped = {c.name: (c.url_prefixes, c.environment_ids, c.allow_plain_http) for c in Credential.objects.all()}
    assert scoped == {
        "forge": (["https://git.example.com/", "ssh://github.com/"], [], False),
        "lan": (["http://gitea.lan:3000/"], [], True),  # already sent over http there: kept working
        "here": (["http://127.0.0.1:8080/"], [], False),
        "idle": ([], [], False),  # used by nothing: sent nowhere until scoped
    }
    client = _client(admin)
    idle = Credential.objects.get(name="idle").pk
    body = {"stackName": "s", "url": "https://git.example.com/org/app.git", "credentialId": idle}
    _refused(
        client.post("/api/git/stacks", body, format="json"),
        "credentialId",
        "https://git.example.com/org/app.git is outside the URL prefixes of credential 'idle'"
        " (none yet: set urlPrefixes)",
    )


# -- creating a credential ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "urlPrefixes", "is required: the URL prefixes this credential may be sent to (https://host/org/)"),
        ({"urlPrefixes": []}, "urlPrefixes", "must name at least one URL prefix"),
        (
            {"urlPrefixes": ["https://h/a/../../x"]},
            "urlPrefixes",
            "'https://h/a/../../x' must not climb above the root with ..",
        ),
        (
            {"urlPrefixes": ["https://u:p@h/"]},
            "urlPrefixes",
            "'https://u:p@h/' must not contain credentials (user:password@): use a credential",
        ),
        (
            {"urlPrefixes": ["https://h/a%2fb/"]},
            "urlPrefixes",
            "'https://h/a%2fb/' must not contain an escaped /, \\, % or control character",
        ),
        (
            {"urlPrefixes": ["ssh://git@h/"]},
            "urlPrefixes",
            "ssh://git@h/ does not fit a token: give https:// or http:// prefixes",
        ),
    ],
)
def test_a_credential_says_where_it_may_go(api: APIClient, fields: dict[str, Any], field: str, message: str) -> None:
    body = {"name": "c", "authType": "token", "token": TOKEN, **fields}
    _refused(api.post("/api/git/credentials", body, format="json"), field, message)


def test_the_credential_form_takes_the_scope_and_shows_its_errors_inline(admin: Any) -> None:
    edge = Environment.objects.create(name="edge")
    page = Client()
    page.force_login(admin)
    form = page.get("/credentials/new/").content.decode()
    assert 'name="urlPrefixes"' in form and 'name="allowPlainHttp"' in form
    assert f'name="environmentIds" value="{edge.pk}"' in form and ">edge</label>" in form

    data = {"name": "lan", "authType": "token", "token": TOKEN, "urlPrefixes": f"http://{NOWHERE}/\n"}
    refused = page.post("/credentials/new/", {**data, "environmentIds": [str(edge.pk)]})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'data-error-for="allowPlainHttp">' in html and "anyone on the way reads a token" in html
    assert f'value="{edge.pk}" checked' in html  # the ticked box stays ticked

    saved = page.post("/credentials/new/", {**data, "environmentIds": [str(edge.pk)], "allowPlainHttp": "on"})
    assert saved.status_code == 302
    cred = Credential.objects.get()
    assert (cred.url_prefixes, cred.environment_ids, cred.allow_plain_http) == ([f"http://{NOWHERE}/"], [edge.pk], True)
    edit = page.get(f"/credentials/{cred.pk}/edit/").content.decode()
    assert f"http://{NOWHERE}/</textarea>" in edit and f'value="{edge.pk}" checked' in edit


def test_a_credential_made_with_a_stack_is_scoped_to_it(admin: Any) -> None:
    page = Client()
    page.force_login(admin)
    data = {
        "stackName": "web",
        "repositoryId": "new",
        "composePath": "compose.yaml",
        "autoUpdateCron": "0 3 * * *",
        "credentialId": "new",
        "newCredentialName": "gh",
        "newCredentialType": "token",
        "newCredentialSecret": TOKEN,
    }
    plain = page.post("/stacks/new/", {**data, "url": f"http://{NOWHERE}/web.git"})
    assert plain.status_code == 400 and "anyone on the way reads a token" in plain.content.decode()
    assert not Credential.objects.exists() and not GitStack.objects.exists()

    unchecked = {**data, "url": "https://forge.example/team/web.git", "skipSourceCheck": "on"}
    assert page.post("/stacks/new/", unchecked).status_code == 302
    cred = Credential.objects.get()
    assert (cred.url_prefixes, cred.environment_ids) == (
        ["https://forge.example/team/web.git/"],
        [local_environment().pk],
    )


# -- a repository's webhook secret -------------------------------------------------------


@pytest.fixture
def repositories(api: APIClient) -> dict[str, dict[str, Any]]:
    """`local` (a stack in local), `shared` (stacks in local and edge), `idle` (none)."""
    edge = Environment.objects.create(name="edge")
    for name, url, environment in (
        ("a", "https://git.example.test/local.git", None),
        ("b", "https://git.example.test/shared.git", None),
        ("c", "https://git.example.test/shared.git", edge.pk),
    ):
        body = {"stackName": name, "url": url, **({"environmentId": environment} if environment else {})}
        assert api.post("/api/git/stacks?check=false", body, format="json").status_code == 201
    assert (
        api.post("/api/git/repositories", {"url": "https://git.example.test/idle.git"}, format="json").status_code
        == 201
    )
    listed = api.get("/api/git/repositories").json()
    return {r["url"].rsplit("/", 1)[1].removesuffix(".git"): r for r in listed}


def _seen(client: APIClient) -> dict[str, str | None]:
    listed = client.get("/api/git/repositories")
    assert listed.status_code == 200
    return {r["url"].rsplit("/", 1)[1].removesuffix(".git"): r["webhookSecret"] for r in listed.json()}


def test_a_repository_webhook_secret_is_shown_only_to_who_administers_all_its_stacks(
    api: APIClient, repositories: dict[str, dict[str, Any]], env_admin: Any, deployer: Any, viewer: Any, outsider: Any
) -> None:
    secret = {name: r["webhookSecret"] for name, r in repositories.items()}
    assert all(secret.values())  # the owner sees every one
    both = _admin_of(local_environment(), Environment.objects.get(name="edge"), name="bothadmin")

    assert _seen(_client(both)) == {"local": secret["local"], "shared": secret["shared"], "idle": None}
    assert _seen(_client(env_admin)) == {"local": secret["local"], "shared": None, "idle": None}
    assert _seen(_client(deployer)) == {"local": None, "shared": None}
    assert _seen(_client(viewer)) == {"local": None, "shared": None}
    assert _seen(_client(outsider)) == {}
    # One by one, too: what is not listed does not exist for them.
    one = _client(deployer).get(f"/api/git/repositories/{repositories['shared']['id']}")
    assert one.status_code == 200 and one.json()["webhookSecret"] is None
    hidden = _client(outsider).get(f"/api/git/repositories/{repositories['local']['id']}")
    assert hidden.status_code == 404 and hidden.json() == {"error": "Repository not found", "code": "not_found"}


def test_a_token_limited_to_one_environment_reaches_no_further(
    api: APIClient, repositories: dict[str, dict[str, Any]]
) -> None:
    edge = Environment.objects.get(name="edge")
    issued = api.post(
        "/api/tokens", {"name": "edge", "scopes": ["deploy:read"], "environmentIds": [edge.pk]}, format="json"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.json()['token']}")
    # The owner's token, limited to edge: `shared` has a stack in local as well.
    assert _seen(client) == {"shared": None, "idle": None}


def test_the_repository_pages_list_only_what_the_reader_may_see(
    repositories: dict[str, dict[str, Any]], deployer: Any, outsider: Any
) -> None:
    for user, listed in ((deployer, {"local", "shared"}), (outsider, set())):
        page = Client()
        page.force_login(user)
        html = page.get("/repositories/").content.decode()
        assert {name for name in repositories if f"git.example.test/{name}.git" in html} == listed
        assert not any(r["webhookSecret"] in html for r in repositories.values())
    assert page.get(f"/repositories/{repositories['local']['id']}/edit/").status_code == 404
    assert page.post(f"/repositories/{repositories['local']['id']}/test/").status_code == 404


def test_the_git_server_token_still_reaches_the_git_server(
    api: APIClient, token_credential: dict[str, Any], app_repo: Any
) -> None:
    """The fixtures' credential, scoped to the git server, reads it (as every deploy
    test relies on)."""
    body = {"stackName": "s", "url": app_repo.url, "credentialId": token_credential["id"]}
    stack = api.post("/api/git/stacks", body, format="json").json()
    assert token_credential["urlPrefixes"] == [app_repo.url.rsplit("/", 1)[0] + "/"]
    page = Client()
    page.force_login(get_user_model().objects.get(username="admin"))
    tested = page.post(f"/repositories/{stack['repositoryId']}/test/").content.decode()
    assert "is reachable" in tested and GIT_TOKEN not in tested
