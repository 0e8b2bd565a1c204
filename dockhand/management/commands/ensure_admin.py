"""Create the first admin when no user exists yet (spec §2)."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin from DOCKHAND_ADMIN_USERNAME / DOCKHAND_ADMIN_PASSWORD if there are no users."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if user_model.objects.exists():
            return
        password = settings.ADMIN_PASSWORD or secrets.token_urlsafe(16)
        user_model.objects.create_superuser(username=settings.ADMIN_USERNAME, password=password)
        if settings.ADMIN_PASSWORD:
            self.stdout.write(f"Created the first admin {settings.ADMIN_USERNAME!r} with DOCKHAND_ADMIN_PASSWORD.")
        else:
            # Shown once: it is not stored anywhere in clear.
            self.stdout.write(f"Created the first admin {settings.ADMIN_USERNAME!r}; password (shown once): {password}")
