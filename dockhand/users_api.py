"""Users: `/api/users` GET POST, `/api/users/<id>` GET PUT (owners only).

No DELETE: a user who leaves is deactivated, so the audit trail keeps naming them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.accounts import require_owner, user_create, user_update
from dockhand.api import error
from dockhand.models import ApiToken

USER_NOT_FOUND = "User not found"


class UserSerializer(serializers.ModelSerializer[Any]):
    isActive = serializers.BooleanField(source="is_active", required=False)  # noqa: N815 (camelCase API)
    isOwner = serializers.BooleanField(source="is_superuser", required=False)  # noqa: N815
    # Write-only: set on creation, or reset by an owner; checked by Django's validators.
    password = serializers.CharField(write_only=True, required=False, trim_whitespace=False, max_length=4096)
    lastLogin = serializers.DateTimeField(source="last_login", read_only=True, allow_null=True)  # noqa: N815
    createdAt = serializers.DateTimeField(source="date_joined", read_only=True)  # noqa: N815

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "isActive", "isOwner", "password", "lastLogin", "createdAt"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and "password" not in attrs:
            raise serializers.ValidationError({"password": ["A new user needs a password."]})
        if self.instance is not None and attrs.get("username", self.instance.username) != self.instance.username:
            raise serializers.ValidationError({"username": ["A username cannot be changed."]})
        return attrs

    def creation(self) -> dict[str, Any]:
        """The validated fields as `user_create` takes them."""
        fields = self.validated_data
        return {
            "username": fields["username"],
            "password": fields["password"],
            "is_owner": fields.get("is_superuser", False),
        }

    def changes(self) -> dict[str, Any]:
        """The validated fields as `user_update` takes them (absent: keep)."""
        fields = self.validated_data
        return {
            "is_active": fields.get("is_active"),
            "is_owner": fields.get("is_superuser"),
            "password": fields.get("password"),
        }


def _users() -> Any:
    return get_user_model().objects.order_by("username")


class UserList(APIView):
    """GET the users; POST creates one (active; an owner when `isOwner`)."""

    read_scope = write_scope = ApiToken.Scope.ADMIN

    @extend_schema(responses=UserSerializer(many=True))
    def get(self, request: Request) -> Response:
        require_owner(request.user)
        return Response(UserSerializer(_users(), many=True).data)

    @extend_schema(request=UserSerializer, responses={201: UserSerializer})
    def post(self, request: Request) -> Response:
        require_owner(request.user)
        data = UserSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(UserSerializer(user_create(**data.creation())).data, status=status.HTTP_201_CREATED)


class UserDetail(APIView):
    """GET one user; PUT `isActive`, `isOwner` and/or a new `password` (partial)."""

    read_scope = write_scope = ApiToken.Scope.ADMIN

    @extend_schema(responses=UserSerializer)
    def get(self, request: Request, pk: int) -> Response:
        require_owner(request.user)
        user = _users().filter(pk=pk).first()
        if user is None:
            return error(USER_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        return Response(UserSerializer(user).data)

    @extend_schema(request=UserSerializer(partial=True), responses=UserSerializer)
    def put(self, request: Request, pk: int) -> Response:
        require_owner(request.user)
        user = _users().filter(pk=pk).first()
        if user is None:
            return error(USER_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        data = UserSerializer(user, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(UserSerializer(user_update(user=user, by=request.user, **data.changes())).data)
