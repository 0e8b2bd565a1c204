"""API tokens: GET /api/tokens, POST (answers the token's value once), DELETE.
A token may be limited to environments, so its API lives beside them."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand import audit
from dockhand.api import error
from dockhand.models import ApiToken
from stacks.models import Environment


class TokenSerializer(serializers.ModelSerializer[Any]):
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiToken.Scope.choices), allow_empty=False)
    environmentIds = serializers.ListField(  # noqa: N815 (the API speaks camelCase)
        source="environment_ids", child=serializers.IntegerField(), required=False, allow_null=True
    )
    expiresAt = serializers.DateTimeField(source="expires_at", required=False, allow_null=True)  # noqa: N815
    lastUsedAt = serializers.DateTimeField(source="last_used_at", read_only=True)  # noqa: N815
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)  # noqa: N815

    class Meta:
        model = ApiToken
        fields = ["id", "name", "hint", "scopes", "environmentIds", "expiresAt", "lastUsedAt", "createdAt"]
        read_only_fields = ["hint"]

    def validate_environmentIds(self, value: list[int] | None) -> list[int] | None:  # noqa: N802
        if value is not None:
            missing = sorted(set(value) - set(Environment.objects.filter(pk__in=value).values_list("pk", flat=True)))
            if missing:
                raise serializers.ValidationError(f"unknown environment ids: {missing}")
        return value

    def validate_expiresAt(self, value: Any) -> Any:  # noqa: N802
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("must be in the future")
        return value


def _user_id(request: Request) -> int:
    """The signed-in user's id (these views require authentication)."""
    return int(request.user.pk or 0)


class TokenList(APIView):
    """GET /api/tokens; POST answers the token's value, once."""

    read_scope = write_scope = ApiToken.Scope.ADMIN

    def get(self, request: Request) -> Response:
        return Response(TokenSerializer(ApiToken.objects.filter(user_id=_user_id(request)), many=True).data)

    def post(self, request: Request) -> Response:
        data = TokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw = ApiToken.issue(user=request.user, **data.validated_data)
        audit.record("token.create", token, f"scopes={','.join(token.scopes)}")
        return Response({**TokenSerializer(token).data, "token": raw}, status=status.HTTP_201_CREATED)


class TokenDetail(APIView):
    read_scope = write_scope = ApiToken.Scope.ADMIN

    def delete(self, request: Request, pk: int) -> Response:
        token = ApiToken.objects.filter(pk=pk, user_id=_user_id(request)).first()
        if token is None:
            return error("API token not found", status.HTTP_404_NOT_FOUND)
        audit.record("token.delete", token)
        token.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
