from __future__ import annotations

from django.apps import AppConfig


class GitsyncConfig(AppConfig):
    name = "gitsync"
