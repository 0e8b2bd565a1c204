#!/bin/sh
# `dockhand <command>`: the product's management commands (serve, createsuperuser, …).
exec python3 /app/manage.py "$@"
