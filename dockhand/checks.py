"""Start-up problems a user can fix, as system checks with stable ids (the engine's
and compose's are the stacks app's: stacks/checks.py)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register


@register("dockhand")
def data_dir_writable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not os.access(settings.DATA_DIR, os.W_OK):
        return [
            Warning(
                f"The data directory {settings.DATA_DIR} is not writable.",
                hint="Fix its owner or set DOCKHAND_DATA_DIR.",
                id="dockhand.W001",
            )
        ]
    return []
