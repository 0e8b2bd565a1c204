"""API tokens: GET /api/tokens, POST (answers the token's value once), DELETE.
A token may be limited to environments, so its API lives beside them."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.accounts import token_create, token_revoke, user_tokens
from dockhand.api import MAX_ID, error
from dockhand.models import ApiToken
from stacks.models import Environment
from stacks.services.access import visible_environment_ids


class TokenSerializer(serializers.ModelSerializer[Any]):
    """Validating needs `context={"user": …, "token": …}` (the caller, and the API token
    it came with, if any): a new token reaches no further and lasts no longer than they do."""

    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiToken.Scope.choices), allow_empty=False)
    environmentIds = serializers.ListField(  # noqa: N815 (the API speaks camelCase)
        source="environment_ids",
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_null=True,
    )
    expiresAt = serializers.DateTimeField(source="expires_at", required=False, allow_null=True)  # noqa: N815
    lastUsedAt = serializers.DateTimeField(source="last_used_at", read_only=True, allow_null=True)  # noqa: N815
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)  # noqa: N815

    class Meta:
        model = ApiToken
        fields = ["id", "name", "hint", "scopes", "environmentIds", "expiresAt", "lastUsedAt", "createdAt"]
        read_only_fields = ["hint"]

    def validate_environmentIds(self, value: list[int] | None) -> list[int] | None:  # noqa: N802
        if value is not None:
            # One message for "no such environment" and "not yours": a token reveals neither.
            known = Environment.objects.filter(pk__in=value)
            allowed = visible_environment_ids(self.context.get("user"), self._parent_limit())
            if allowed is not None:
                known = known.filter(pk__in=allowed)
            missing = sorted(set(value) - set(known.values_list("pk", flat=True)))
            if missing:
                raise serializers.ValidationError(f"unknown environment ids: {missing}")
        return value

    def _parent_limit(self) -> list[int] | None:
        parent = self.context.get("token")
        if isinstance(parent, ApiToken) and parent.environment_ids is not None:
            return [int(i) for i in parent.environment_ids]
        return None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        parent = self.context.get("token")
        if isinstance(parent, ApiToken):
            # Otherwise a limited token could mint an unlimited one, or outlive itself.
            if attrs.get("environment_ids") is None and self._parent_limit() is not None:
                attrs["environment_ids"] = self._parent_limit()
            expires = attrs.get("expires_at")
            if parent.expires_at is not None and (expires is None or expires > parent.expires_at):
                attrs["expires_at"] = parent.expires_at
        return attrs

    def validate_expiresAt(self, value: Any) -> Any:  # noqa: N802
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("must be in the future")
        return value


class NewTokenSerializer(TokenSerializer):
    """A new token: its value is in this answer and nowhere else, ever."""

    token = serializers.CharField(read_only=True)

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


class TokenList(APIView):
    """GET /api/tokens (the caller's own); POST answers the token's value, once."""

    read_scope = write_scope = ApiToken.Scope.ADMIN

    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(TokenSerializer(user_tokens(request.user), many=True).data)

    @extend_schema(request=TokenSerializer, responses={201: NewTokenSerializer})
    def post(self, request: Request) -> Response:
        data = TokenSerializer(data=request.data, context={"user": request.user, "token": request.auth})
        data.is_valid(raise_exception=True)
        token, raw = token_create(user=request.user, **data.validated_data)
        return Response({**TokenSerializer(token).data, "token": raw}, status=status.HTTP_201_CREATED)


class TokenDetail(APIView):
    read_scope = write_scope = ApiToken.Scope.ADMIN

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        token = user_tokens(request.user).filter(pk=pk).first()
        if token is None:
            return error("API token not found", status.HTTP_404_NOT_FOUND)
        token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
