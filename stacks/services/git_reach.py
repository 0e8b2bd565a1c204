"""What gitsync's pages need to know of environments, told by stacks.

gitsync may not import stacks; the wiring (dockhand/urls.py) hands these functions to
gitsync's views.
"""

from __future__ import annotations

from stacks.models import Environment


def environment_choices() -> list[tuple[int, str]]:
    """Every environment as (id, name), for a credential's `environmentIds`."""
    return list(Environment.objects.order_by("name").values_list("id", "name"))
