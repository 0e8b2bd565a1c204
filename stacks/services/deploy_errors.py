"""The error of a stack that cannot be deployed as it is."""

from __future__ import annotations


class DeployError(Exception):
    """The stack's files or settings cannot be deployed; the message is safe to show."""

    error_code = "deploy_failed"
