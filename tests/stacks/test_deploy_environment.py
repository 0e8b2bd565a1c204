"""What compose receives: awkward values survive intact, secrets never show."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.models import Deployment
from tests.conftest import SECRET_VALUE, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db

ECHO_COMPOSE = """\
services:
  app:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
    environment:
      MESSAGE: ${{GIT_COMMIT_MESSAGE}}
      AUTHOR: ${{GIT_COMMIT_AUTHOR}}
      BRANCH: ${{GIT_BRANCH}}
      TRICKY: ${{TRICKY}}
"""


def test_values_with_quotes_dollars_and_newlines_reach_the_container_intact(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    message = 'fix: it\'s "quoted" and costs $HOME\n\nsecond line with \\ backslash'
    repo = git_server.create_repo("tricky", {"compose.yaml": ECHO_COMPOSE.format(image=docker_image)})
    repo.commit({"notes.txt": "x"}, message)
    tricky = "a'b\"c $NOT_EXPANDED ${ALSO_NOT} back\\slash"
    stack = make_stack(repo, envFilePath="", envVars=[{"key": "TRICKY", "value": tricky}])
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deployed"] is True
    env = dockersupport.inspect(container_name(stack))["Config"]["Env"]  # type: ignore[index]
    values = dict(item.split("=", 1) for item in env)
    assert values["MESSAGE"] == message
    assert values["AUTHOR"] == "Test Author <author@example.test>"
    assert values["BRANCH"] == "main"
    assert values["TRICKY"] == tricky


def test_a_secret_that_compose_prints_is_masked_in_output_and_error(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    # The secret ends up in an image name, so compose's own error message quotes it.
    leaky = ECHO_COMPOSE.format(image="dockhand-test/busybox:${SECRET}")
    repo = git_server.create_repo("leaky", {"compose.yaml": leaky})
    stack = make_stack(
        repo,
        envFilePath="",
        envVars=[{"key": "SECRET", "value": SECRET_VALUE, "isSecret": True}, {"key": "TRICKY", "value": "x"}],
    )
    response = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    body = response.json()
    assert body["success"] is False
    assert "********" in body["error"] + body["output"]
    deployment = Deployment.objects.get(pk=body["deploymentId"])
    for text in (
        response.content.decode(),
        deployment.output_text(),
        deployment.error,
        api.get(f"/api/git/stacks/{stack['id']}").content.decode(),
    ):
        assert SECRET_VALUE not in text
