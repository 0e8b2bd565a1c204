from __future__ import annotations

from django.apps import AppConfig


class StacksConfig(AppConfig):
    name = "stacks"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from stacks import checks  # noqa: F401  (registers the engine and compose checks)
        from stacks.services import table_clock

        # After every migrate: a migration that rebuilt the stacks table dropped its triggers.
        post_migrate.connect(table_clock.on_post_migrate, sender=self, dispatch_uid="stacks.table_clock")
