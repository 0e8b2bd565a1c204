"""Masking of secret values in anything dockhand stores or shows."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "********"
# Shorter values would turn ordinary output into asterisks without protecting anything.
MIN_MASKED_LENGTH = 3


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of every secret (longest first, so overlaps stay masked)."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_MASKED_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
