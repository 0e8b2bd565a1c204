from __future__ import annotations

from django.apps import AppConfig


class StacksConfig(AppConfig):
    name = "stacks"

    def ready(self) -> None:
        from stacks import checks  # noqa: F401  (registers the engine and compose checks)
