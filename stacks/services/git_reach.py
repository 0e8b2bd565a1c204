"""What gitsync's repository pages and API may show a caller, by stacks' access rules.

gitsync may not import stacks, and memberships live here; the wiring (dockhand/urls.py)
hands these functions to gitsync's views.
"""

from __future__ import annotations

from typing import Any

from dockhand.tokens import token_environment_ids
from gitsync.services.visibility import Reach
from stacks.models import Environment
from stacks.services.access import admin_environment_ids, visible_environment_ids


def git_reach(request: Any) -> Reach:
    """The environments the caller sees and administers, a token's limit applied to
    both (a page request carries no token)."""
    limit = token_environment_ids(request) if hasattr(request, "auth") else None
    visible = visible_environment_ids(request.user, limit)
    admin_of = admin_environment_ids(request.user)
    if limit is not None:
        admin_of = set(limit) if admin_of is None else admin_of & set(limit)
    return Reach(
        visible=None if visible is None else frozenset(visible),
        admin_of=None if admin_of is None else frozenset(admin_of),
    )


def environment_choices() -> list[tuple[int, str]]:
    """Every environment as (id, name), for a credential's `environmentIds`."""
    return list(Environment.objects.order_by("name").values_list("id", "name"))
