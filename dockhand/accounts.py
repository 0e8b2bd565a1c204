"""Users and API tokens: the one path for the API and the pages.

Owners (superusers) manage users; everyone manages their own API tokens. Refusals are
validation errors naming the field, so the API answers 400 `{"error", "fields"}` and a
page shows the message next to that field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from rest_framework.exceptions import ValidationError

from dockhand import audit
from dockhand.errors import Forbidden
from dockhand.models import ApiToken


def require_owner(user: Any) -> None:
    """Users are managed by owners only (a 403, on the API and on the pages)."""
    if user is None or not getattr(user, "is_superuser", False):
        raise Forbidden("Only owners manage users")


def _refuse(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _checked_password(password: str, user: Any) -> None:
    """Django's password validators (settings.AUTH_PASSWORD_VALIDATORS), as a 400 naming `password`."""
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from exc


def user_create(*, username: str, password: str, is_owner: bool = False) -> Any:
    """A new, active user; an owner manages users and every environment."""
    user_model = get_user_model()
    _checked_password(password, user_model(username=username))
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(username=username, password=password)
    except IntegrityError as exc:  # taken between the serializer's check and now
        raise _refuse("username", "A user with that username already exists.") from exc
    if is_owner:
        user.is_superuser = user.is_staff = True  # staff: the Django admin, as the first admin has
        user.save(update_fields=["is_superuser", "is_staff"])
    audit.record("user.create", user, f"owner={is_owner}")
    return user


def user_update(
    *, user: Any, by: Any, is_active: bool | None = None, is_owner: bool | None = None, password: str | None = None
) -> Any:
    """Activate or deactivate, make or unmake an owner, set a new password (None: keep).
    Nobody locks themself out, and the last active owner stays one."""
    if by is not None and user.pk == by.pk:
        if is_active is False:
            raise _refuse("isActive", "You cannot deactivate yourself; ask another owner.")
        if is_owner is False:
            raise _refuse("isOwner", "You cannot take away your own owner role; ask another owner.")
        if password is not None:
            # A stolen session must not change the password without the current one.
            raise _refuse("password", "Change your own password on the Password page; it asks for the current one.")
    if password is not None:
        _checked_password(password, user)
    changes: dict[str, Any] = {}
    if is_active is not None and is_active != user.is_active:
        changes["is_active"] = is_active
    if is_owner is not None and is_owner != user.is_superuser:
        changes.update(is_superuser=is_owner, is_staff=is_owner)
    if not changes and password is None:
        return user
    with transaction.atomic():
        if changes:
            _apply(user, changes)
        if password is not None:
            user.set_password(password)  # ends the user's sessions: their auth hash changes
            user.save(update_fields=["password"])
    for name, value in changes.items():
        setattr(user, name, value)
    detail = [f"{name}={value}" for name, value in changes.items() if name != "is_staff"]
    audit.record("user.update", user, ", ".join(detail + (["password reset"] if password is not None else [])))
    return user


def _apply(user: Any, changes: dict[str, Any]) -> None:
    """Write the changes; one that leaves no active owner is refused. Two owners
    demoting each other at once must not both succeed: the owners' rows are locked
    (PostgreSQL), and the update is conditional in one statement (SQLite writes one at a time)."""
    users = get_user_model().objects
    demotes = changes.get("is_active") is False or changes.get("is_superuser") is False
    if not (demotes and user.is_superuser and user.is_active):
        users.filter(pk=user.pk).update(**changes)
        return
    if connection.features.has_select_for_update:
        list(users.select_for_update().filter(is_superuser=True, is_active=True).values_list("pk", flat=True))
    others = users.filter(is_superuser=True, is_active=True).exclude(pk=OuterRef("pk"))
    if users.filter(pk=user.pk).filter(Exists(others)).update(**changes) == 0:
        field = "isActive" if changes.get("is_active") is False else "isOwner"
        raise _refuse(field, f"{user.get_username()} is the last active owner; make another user an owner first.")


def user_tokens(user: Any) -> QuerySet[ApiToken]:
    """The tokens a user sees and revokes: their own (owners too: a token acts as its user)."""
    return ApiToken.objects.filter(user_id=user.pk)


def token_create(
    *,
    user: Any,
    name: str,
    scopes: list[str],
    environment_ids: list[int] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Issue a token; returns it with its raw value, which is never available again."""
    token, raw = ApiToken.issue(
        user=user, name=name, scopes=scopes, environment_ids=environment_ids, expires_at=expires_at
    )
    audit.record("token.create", token, f"scopes={','.join(token.scopes)}")
    return token, raw


def token_revoke(*, token: ApiToken) -> None:
    """Delete the token: the next request with it answers 401."""
    audit.record("token.delete", token)
    token.delete()
