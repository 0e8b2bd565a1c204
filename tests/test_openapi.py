"""The OpenAPI 3 contract at GET /api/schema: valid, complete (every URL under /api/),
with the authentication, scopes and answer shapes the API really has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema")  # anonymous: the contract is public
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return dict(response.json())


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> list[str]:
    found = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, route)
        else:
            found.append(route)
    return found


def _schema_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{" + ("id" if m.group(1) == "pk" else m.group(1)) + "}", route)


def _ref(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _body(schema: dict[str, Any], path: str, method: str, code: str) -> dict[str, Any]:
    response = schema["paths"][path][method]["responses"][code]
    return _ref(schema, response["content"]["application/json"]["schema"])


def test_it_is_a_valid_openapi_3_document(schema: dict[str, Any]) -> None:
    validate_schema(schema)  # raises on any violation of the OpenAPI 3.0 JSON schema
    assert schema["openapi"].startswith("3.")
    operation_ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_every_api_url_is_described(schema: dict[str, Any]) -> None:
    routes = {_schema_path(r) for r in _routes(get_resolver().url_patterns) if r.startswith("api/")}
    routes -= {"/api/schema", "/api/docs"}
    missing = sorted(routes - set(schema["paths"]))
    assert not missing, f"not in the schema: {missing}"
    assert "/metrics" in schema["paths"]


def test_every_operation_says_its_answers_and_errors(schema: dict[str, Any]) -> None:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary"), f"{method} {path}: no summary"
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), f"{method} {path}: no success answer"
            if operation.get("security") and {} not in operation["security"] and "webhook" not in path:
                assert {"401", "403"} <= codes, f"{method} {path}: {codes}"
                assert operation["x-token-scope"] in ("deploy:read", "deploy:write", "deploy:admin")
            for code, response in operation["responses"].items():
                assert response.get("content") or code == "204", f"{method} {path} {code}: no body described"
                if code.startswith("2") and "application/json" in response.get("content", {}):
                    body = _ref(schema, response["content"]["application/json"]["schema"])
                    assert body.get("properties") or body.get("items") or body.get("type") == "string", (
                        f"{method} {path} {code}: a free-form answer"
                    )


def test_the_error_envelope_is_one_shape_with_an_optional_code(schema: dict[str, Any]) -> None:
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["type"] == "string"
    assert error["properties"]["code"]["type"] == "string"
    assert _body(schema, "/api/git/stacks/{id}", "get", "404") == error


def test_sync_answers_the_spec_shape(schema: dict[str, Any]) -> None:
    sync = schema["paths"]["/api/git/stacks/{id}/sync"]["post"]
    done = _body(schema, "/api/git/stacks/{id}/sync", "post", "200")
    assert set(done["required"]) == {"success", "deployed", "message", "commit", "output", "deploymentId"}
    assert done["properties"]["commit"].get("nullable") is True
    assert {"202", "409", "500", "502"} <= set(sync["responses"])
    assert sync["x-token-scope"] == "deploy:write"
    assert {p["name"] for p in sync["parameters"] if p["in"] == "query"} == {"wait"}


def test_it_names_each_way_to_authenticate(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert "deploy:admin" in schemes["bearerToken"]["description"]
    assert schemes["cookieSession"]["in"] == "cookie"
    assert schemes["webhookSignature"]["name"] == "X-Hub-Signature-256"
    webhook = schema["paths"]["/api/git/stacks/{id}/webhook"]["post"]
    assert webhook["security"] == [{"webhookSignature": []}, {"webhookSecret": []}]
    assert schema["paths"]["/api/health"]["get"]["security"][-1] == {}  # anyone may ask
    assert schema["paths"]["/api/tokens"]["post"]["x-token-scope"] == "deploy:admin"
    assert schema["paths"]["/api/git/stacks"]["get"]["x-token-scope"] == "deploy:read"


def test_secrets_are_write_only(schema: dict[str, Any]) -> None:
    request = schema["components"]["schemas"]["CredentialRequest"]["properties"]
    answer = schema["components"]["schemas"]["Credential"]["properties"]
    assert "token" in request and "token" not in answer
    assert "password" in schema["components"]["schemas"]["UserRequest"]["properties"]
    assert "password" not in schema["components"]["schemas"]["User"]["properties"]


def test_the_docs_page_loads_its_assets_from_here_without_inline_code(client: Client) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<style" not in html and " style=" not in html
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all("src=" in attrs for attrs in scripts), scripts
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert all(a.startswith("/") for a in assets), assets  # no CDN
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    script = client.get("/api/docs?script=")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content


def test_generating_it_warns_of_nothing(tmp_path: Path) -> None:
    """An endpoint spectacular cannot read (no serializer, an untyped method field) is
    a warning; `--fail-on-warn` makes it an error here, before the fuzz finds it."""
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))
