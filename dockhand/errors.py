"""Domain exceptions shared by both apps."""

from __future__ import annotations


class InUse(Exception):
    """The object is still used by others and cannot be deleted (answered 409)."""


class Conflict(Exception):
    """The object's state does not allow this now (answered 409)."""
