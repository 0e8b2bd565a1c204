"""Stack-side records, a module per family; Django finds them all here.

environments: Environment, Membership, NotifyEvent. gitstack: GitStack, StackEnvVar.
deployments: Deployment, DeploymentLine, WebhookDelivery. registries: Registry.
secret_stores: SecretStore.
"""

from __future__ import annotations

from stacks.models.deployments import Deployment, DeploymentLine, WebhookDelivery
from stacks.models.environments import Environment, Membership, NotifyEvent, default_notify_events
from stacks.models.gitstack import GitStack, PullPolicy, StackEnvVar, default_project_name
from stacks.models.registries import Registry
from stacks.models.secret_stores import SecretStore

__all__ = [
    "Deployment",
    "DeploymentLine",
    "Environment",
    "GitStack",
    "Membership",
    "NotifyEvent",
    "PullPolicy",
    "Registry",
    "SecretStore",
    "StackEnvVar",
    "WebhookDelivery",
    "default_notify_events",
    "default_project_name",
]
