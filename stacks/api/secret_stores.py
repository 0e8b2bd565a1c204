"""Secret stores: `/api/secret-stores[/<id>]` and `POST …/<id>/test` (spec §5)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import CollectionView, ItemView, error
from dockhand.errors import require_superuser
from dockhand.openapi import CHECKED
from stacks.api.registries import scoped_visible
from stacks.api.secret_store_serializers import SecretStoreSerializer
from stacks.models import SecretStore
from stacks.services.secret_stores import secret_store_delete, secret_store_save, secret_store_test

NOT_FOUND = "Secret store not found"


def stores_visible(request: Request | HttpRequest) -> QuerySet[SecretStore]:
    """Owners: every store; anyone else those of an environment they see, or of all."""
    return scoped_visible(request, SecretStore.objects.all())


class SecretStoreList(CollectionView):
    serializer, model = SecretStoreSerializer, SecretStore

    def visible(self, request: Request) -> QuerySet[SecretStore]:
        return stores_visible(request)

    def save(self, instance: SecretStore | None, fields: dict[str, Any]) -> SecretStore:
        return secret_store_save(store=instance, fields=fields)


class SecretStoreDetail(ItemView):
    serializer, model, not_found = SecretStoreSerializer, SecretStore, NOT_FOUND

    def visible(self, request: Request) -> QuerySet[SecretStore]:
        return stores_visible(request)

    def save(self, instance: SecretStore | None, fields: dict[str, Any]) -> SecretStore:
        return secret_store_save(store=instance, fields=fields)

    def remove(self, instance: SecretStore) -> None:
        secret_store_delete(store=instance)


class SecretStoreTest(APIView):
    """POST /api/secret-stores/<id>/test: log in as a deploy would; what happened."""

    @extend_schema(request=None, responses=CHECKED)
    def post(self, request: Request, pk: int) -> Response:
        require_superuser(request.user)
        store = stores_visible(request).filter(pk=pk).first()
        if store is None:
            return error(NOT_FOUND, status.HTTP_404_NOT_FOUND)
        ok, message = secret_store_test(store=store)
        return Response({"success": ok, "message": message})
