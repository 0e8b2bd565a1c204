"""The projects page: every compose project of the engines the reader sees, managed
or not; environment admins start, stop, restart, remove and adopt them (the same
services as the API)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError

from dockhand.confirm import Confirm
from dockhand.errors import Conflict
from gitsync import git
from gitsync.services.visibility import repositories_visible
from stacks import compose, engine
from stacks.api.projects import adopt
from stacks.models import Environment
from stacks.services.access import admin_environment_ids, is_admin_of, visible_environments
from stacks.services.deploy_errors import DeployError
from stacks.services.git_reach import git_reach
from stacks.services.projects import (
    Project,
    ProjectMissing,
    environment_project,
    environment_projects,
    project_delete,
    project_operate,
)


def _environment(request: HttpRequest, pk: int) -> Environment:
    found = visible_environments(request.user).filter(pk=pk).first()
    if found is None:
        raise Http404("No such environment")
    return found


def _confirms(project: Project) -> dict[str, Confirm]:
    key = f"{project.environment.pk}-{project.name}"
    where = f"{project.name} ({project.environment.name})"
    return {
        "stop": Confirm(
            key=f"stop-{key}",
            title=f"Stop {project.name}?",
            message=f"Stop stops every container of the compose project {where}; they stay, to be started again.",
            action=reverse("project-stop", args=[project.environment.pk, project.name]),
            submit="Stop",
            style="warning",
        ),
        "restart": Confirm(
            key=f"restart-{key}",
            title=f"Restart {project.name}?",
            message=f"Restart restarts every container of {where}: its services are briefly unavailable.",
            action=reverse("project-restart", args=[project.environment.pk, project.name]),
            submit="Restart",
            style="warning",
        ),
        "delete": Confirm(
            key=f"delete-{key}",
            title=f"Remove {project.name}?",
            message=f"Remove stops and removes the containers and networks of {where} (docker compose down).",
            action=reverse("project-delete", args=[project.environment.pk, project.name]),
            submit="Remove",
            options=(
                ("volumes", "Also remove its named volumes (their data)", False),
                ("images", "Also remove its images", False),
            ),
            note="This cannot be undone.",
        ),
    }


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    admin_of = admin_environment_ids(request.user)
    groups, offline = [], []
    for environment in visible_environments(request.user).order_by("name"):
        try:
            found = environment_projects(environment=environment)
        except engine.EngineError as exc:
            offline.append((environment, str(exc)))
            continue
        may_act = is_admin_of(admin_of, environment.pk)
        rows = [
            {"project": p, "confirms": _confirms(p) if may_act and not p.stack else {}, "may_act": may_act}
            for p in found
        ]
        groups.append((environment, rows))
    return render(request, "stacks/projects.html", {"groups": groups, "offline": offline})


def _refused(request: HttpRequest, title: str, exc: Exception, status: int) -> HttpResponse:
    return render(request, "message.html", {"title": title, "message": str(exc)}, status=status)


@login_required
@require_POST
def project_operation_view(request: HttpRequest, pk: int, name: str, action: str) -> HttpResponse:
    environment = _environment(request, pk)
    try:
        project_operate(environment=environment, name=name, action=action, by=request.user)
    except ProjectMissing as exc:
        return _refused(request, f"Could not {action} {name}", exc, 404)
    except (Conflict, engine.EngineError, compose.ComposeError) as exc:
        return _refused(request, f"Could not {action} {name}", exc, 409)
    messages.success(request, f"Project {name}: {action} done.")
    return redirect("project-list")


@login_required
@require_POST
def project_delete_view(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    environment = _environment(request, pk)
    volumes, images = request.POST.get("volumes") == "on", request.POST.get("images") == "on"
    try:
        project_delete(environment=environment, name=name, by=request.user, volumes=volumes, images=images)
    except ProjectMissing as exc:
        return _refused(request, f"Could not remove {name}", exc, 404)
    except (Conflict, engine.EngineError, compose.ComposeError) as exc:
        return _refused(request, f"Could not remove {name}", exc, 409)
    messages.success(request, f"Project {name} removed.")
    return redirect("project-list")


@login_required
def project_adopt_view(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    """A form: the repository, branch and compose file the project's stack follows."""
    environment = _environment(request, pk)
    try:
        project = environment_project(environment=environment, name=name)
    except ProjectMissing as exc:
        raise Http404(str(exc)) from exc
    except engine.EngineError as exc:
        return _refused(request, f"Cannot adopt {name}", exc, 502)
    values: dict[str, Any] = {"name": name, "composePath": "compose.yaml", "branch": "", "repositoryId": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values.update({key: request.POST.get(key, "").strip() for key in values})
        body = {key: value for key, value in values.items() if value}
        try:
            adoption = adopt(request=request, environment=environment, name=name, body=body, check=True)
        except ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"form": exc.detail}
            errors = {key: " ".join(str(m) for m in (v if isinstance(v, list) else [v])) for key, v in detail.items()}
            if "url" in errors:  # the repository's own URL (the form names it by its select)
                errors.setdefault("repositoryId", errors.pop("url"))
        except (Conflict, engine.EngineError, git.GitError, compose.ComposeError, DeployError) as exc:
            errors = {"form": str(exc)}
        else:
            if adoption.matched:
                messages.success(
                    request, f"Adopted {name}: its containers are the repository's model, nothing was recreated."
                )
            else:
                messages.warning(request, f"Adopted {name} as it runs, out of sync: " + "; ".join(adoption.reasons))
            return redirect("stack-detail", adoption.stack.pk)
    repositories = repositories_visible(git_reach(request)).order_by("name")
    context = {"project": project, "values": values, "errors": errors, "repositories": repositories}
    return render(request, "stacks/project_adopt.html", context)
