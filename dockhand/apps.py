from __future__ import annotations

from django.apps import AppConfig


class DockhandConfig(AppConfig):
    name = "dockhand"

    def ready(self) -> None:
        from dockhand import checks  # noqa: F401  (registers the system checks)
