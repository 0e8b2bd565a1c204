"""Handing deployments to the worker (django-q2): the one place that names the task."""

from __future__ import annotations

from django_q import tasks

from stacks.models import Deployment


def enqueue(deployment: Deployment) -> None:
    """Queue the deployment's run; a duplicate delivery is harmless (`start()` lets one run)."""
    tasks.async_task("stacks.tasks.run_deployment", deployment.pk, task_name=f"deployment-{deployment.pk}")
