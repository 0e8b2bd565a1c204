#!/usr/bin/env python
"""Django's command-line utility for dockhand."""

import os
import sys

if __name__ == "__main__":
    from dockhand.datadir import keep_private

    keep_private()  # before the data dir or anything in it is created
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockhand.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
