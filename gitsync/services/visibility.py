"""Which repositories a caller may see, and whose webhook secret.

Who sees what is decided per environment, by memberships that belong to stacks, which
gitsync may not import. So the caller's reach is handed in: the wiring
(dockhand/urls.py) gives gitsync's views a function from request to `Reach`, which
stacks' access rules answer (stacks/services/git_reach.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from gitsync.models import Repository


@dataclass(frozen=True)
class Reach:
    """The environments a caller sees and administers (None: every one, an owner)."""

    visible: frozenset[int] | None
    admin_of: frozenset[int] | None


ReachOf = Callable[[Any], Reach]

NOBODY = Reach(visible=frozenset(), admin_of=frozenset())


def owners_only(request: Any) -> Reach:
    """The reach when no rules were handed in: everything for owners, nothing else."""
    user = getattr(request, "user", None)
    return Reach(None, None) if getattr(user, "is_superuser", False) else NOBODY


def repositories_visible(reach: Reach) -> QuerySet[Repository]:
    """Repositories a stack of a visible environment uses, and (for whoever may make a
    stack from one: an admin of some environment) those no stack uses yet."""
    repositories = Repository.objects.all()
    if reach.visible is None:
        return repositories
    used_here = Q(stacks__environment_id__in=reach.visible)
    unused = Q(stacks__isnull=True) if reach.admin_of is None or reach.admin_of else Q(pk__in=[])
    return repositories.filter(used_here | unused).distinct()


def webhook_secret_shown(repository: Repository, reach: Reach) -> bool:
    """With the repository's webhook secret anyone can sign a push that deploys every
    stack on it: shown to owners, and to whoever administers each environment of those
    stacks (a repository no stack uses: owners only)."""
    if reach.admin_of is None:
        return True
    environments = set(repository.stacks.values_list("environment_id", flat=True))
    return bool(environments) and environments <= reach.admin_of
