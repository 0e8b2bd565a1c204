"""What a deployment's page header shows while it runs: status, commit, start,
duration, whether it can still be cancelled. One shape for the page (rendered) and the
live socket (sent whenever it changes), so the header reads the same either way.

Texts a person reads (the start time, the duration) are formatted here, once, by the
template filters the pages use: the browser only puts them in place.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dockhand.templatetags.dockhand import absolute, duration
from stacks.models import Deployment

# What the consumer reads of the row, every look: what the header needs, no more.
FIELDS = (
    "status",
    "deployed",
    "error",
    "note",
    "commit_sha",
    "commit_message",
    "commit_author",
    "started_at",
    "duration_ms",
    "cancel_requested_by",
)
CANCELLABLE = (Deployment.Status.PENDING_APPROVAL, Deployment.Status.QUEUED, Deployment.Status.RUNNING)


def deployment_state(deployment: Deployment) -> dict[str, Any]:
    """The header's facts, with a `version` that changes whenever one of them does."""
    started = deployment.started_at
    state: dict[str, Any] = {
        "status": deployment.status,
        "deployed": deployment.deployed,
        "error": deployment.error,
        "note": deployment.note,
        "commit": deployment.commit_sha,
        "commitMessage": deployment.commit_message.splitlines()[0] if deployment.commit_message else "",
        "commitAuthor": deployment.commit_author,
        "startedAt": started.isoformat() if started else None,
        "started": absolute(started),
        "durationMs": deployment.duration_ms,
        "duration": duration(deployment.duration_ms),
        # A running deploy asked to stop ends itself within half a second: no second ask.
        "cancellable": deployment.status in CANCELLABLE and not deployment.cancel_requested_by,
        "cancelRequestedBy": deployment.cancel_requested_by,
    }
    text = json.dumps(state, sort_keys=True, default=str).encode()
    state["version"] = hashlib.blake2b(text, digest_size=8).hexdigest()
    return state
