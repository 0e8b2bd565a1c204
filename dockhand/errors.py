"""Domain exceptions shared by the apps; the API's exception handler answers each."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

# Each exception the API answers names its body's stable `code` (`error_code`); the
# API's error envelope (dockhand/api.py) reads it, whatever raised it.


class InUse(Exception):
    """The object is still used by others and cannot be deleted (answered 409)."""

    error_code = "in_use"


class Conflict(Exception):
    """The object's state does not allow this now (answered 409)."""

    error_code = "conflict"


class Busy(Conflict):
    """Another operation holds the object; try again when it has finished (answered
    409 with `"success": false`, like a sync that did not happen)."""

    error_code = "busy"


class Forbidden(PermissionDenied):
    """Visible, but the caller's role does not allow this (answered 403)."""

    error_code = "forbidden"


def is_owner(user: object) -> bool:
    """Owners (superusers) manage credentials, repositories, environments and users."""
    return user is not None and bool(getattr(user, "is_superuser", False))


def require_superuser(user: object) -> None:
    """Credentials, repositories and environments are managed by administrators."""
    if not is_owner(user):
        raise Forbidden("Only administrators manage credentials, repositories and environments")
