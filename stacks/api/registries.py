"""/api/registries[/<id>] and POST /api/registries/<id>/test: registry logins, the
password write-only. Owners (superusers) manage them, as credentials; whoever sees one
of a registry's environments (or any, for a registry of every environment) reads it."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import QuerySet
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import CollectionView, ItemView, error
from dockhand.errors import require_superuser
from dockhand.models import ApiToken
from dockhand.openapi import CHECKED
from dockhand.tokens import token_environment_ids
from stacks.api.registry_serializers import RegistrySerializer
from stacks.models import Registry, SecretStore
from stacks.services.access import visible_environment_ids
from stacks.services.registries import registry_delete, registry_save, registry_test

M = TypeVar("M", Registry, SecretStore)


def scoped_visible(request: Request | HttpRequest, everything: QuerySet[M]) -> QuerySet[M]:
    """Owners: every row; anyone else those (registries, secret stores: `environment_ids`)
    of an environment they see, or of all."""
    limit = token_environment_ids(request) if isinstance(request, Request) else None
    allowed = visible_environment_ids(request.user, limit)
    if allowed is None:
        return everything
    # A row of every environment: for members of some environment, not for outsiders.
    keep = [r.pk for r in everything if set(r.environment_ids or allowed) & set(allowed)]
    return everything.filter(pk__in=keep)


def registries_visible(request: Request | HttpRequest) -> QuerySet[Registry]:
    return scoped_visible(request, Registry.objects.all())


class RegistryList(CollectionView):
    serializer, model = RegistrySerializer, Registry

    def visible(self, request: Request) -> QuerySet[Registry]:
        return registries_visible(request)

    def save(self, instance: Registry | None, fields: dict[str, Any]) -> Registry:
        return registry_save(instance=instance, fields=fields)


class RegistryDetail(ItemView):
    serializer, model, not_found = RegistrySerializer, Registry, "Registry not found"

    def visible(self, request: Request) -> QuerySet[Registry]:
        return registries_visible(request)

    def save(self, instance: Registry | None, fields: dict[str, Any]) -> Registry:
        return registry_save(instance=instance, fields=fields)

    def remove(self, instance: Registry) -> None:
        registry_delete(instance=instance)


class RegistryTest(APIView):
    """POST /api/registries/<id>/test: log in now; {"success", "message"}."""

    write_scope = ApiToken.Scope.WRITE

    @extend_schema(request=None, responses=CHECKED)
    def post(self, request: Request, pk: int) -> Response:
        require_superuser(request.user)
        instance = registries_visible(request).filter(pk=pk).first()
        if instance is None:
            return error("Registry not found", status.HTTP_404_NOT_FOUND)
        ok, message = registry_test(instance=instance)
        return Response({"success": ok, "message": message})
