"""django-q2 task entry points: they take ids and delegate to services."""

from __future__ import annotations

from stacks.services.runner import deployment_run


def run_deployment(deployment_id: int) -> str:
    """Run one queued deployment; returns its final status for the task record."""
    return deployment_run(deployment_id=deployment_id).status
