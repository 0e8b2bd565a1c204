"""Masking of secret values in anything dockhand stores or shows."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "********"
# Shorter values would turn ordinary output into asterisks without protecting anything.
MIN_MASKED_LENGTH = 3


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of every secret, in each form it may be printed in
    (longest first, so overlaps stay masked)."""
    forms = {form for secret in secrets for form in printed_forms(secret)}
    for secret in sorted({s for s in forms if len(s) >= MIN_MASKED_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def printed_forms(secret: str) -> list[str]:
    """The secret as itself, `$`-escaped as `docker compose config` prints it (`$$`), and
    each line of a multi-line value (output is read a line at a time)."""
    lines = [line.rstrip("\r") for line in secret.split("\n")] if "\n" in secret else []
    forms = [secret, *(line for line in lines if line.strip())]
    return forms + [form.replace("$", "$$") for form in forms if "$" in form]
