"""Credential and repository endpoints."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.request import Request

from dockhand.api import CollectionView, ItemView
from gitsync.api.serializers import CredentialSerializer, RepositorySerializer
from gitsync.models import Credential, Repository
from gitsync.services.repositories import (
    credential_delete,
    credential_save,
    repository_delete,
    repository_save,
)
from gitsync.services.visibility import ReachOf, owners_only, repositories_visible


class CredentialList(CollectionView):
    serializer, model = CredentialSerializer, Credential

    def save(self, instance: Credential | None, fields: dict[str, Any]) -> Credential:
        return credential_save(credential=instance, fields=fields)


class CredentialDetail(ItemView):
    serializer, model, not_found = CredentialSerializer, Credential, "Credential not found"

    def save(self, instance: Credential | None, fields: dict[str, Any]) -> Credential:
        return credential_save(credential=instance, fields=fields)

    def remove(self, instance: Credential) -> None:
        credential_delete(credential=instance)


class _Reached:
    """Repositories as far as the caller reaches: `reach_of` is handed in by the wiring
    (`as_view(reach_of=…)` in dockhand/urls.py); without it, owners only."""

    reach_of: ReachOf | None = None

    def visible(self, request: Request) -> QuerySet[Repository]:
        return repositories_visible((self.reach_of or owners_only)(request))

    def context(self, request: Request) -> dict[str, Any]:
        return {"request": request, "reach": (self.reach_of or owners_only)(request)}


class RepositoryList(_Reached, CollectionView):
    serializer, model = RepositorySerializer, Repository

    def save(self, instance: Repository | None, fields: dict[str, Any]) -> Repository:
        return repository_save(repository=instance, fields=fields)


class RepositoryDetail(_Reached, ItemView):
    serializer, model, not_found = RepositorySerializer, Repository, "Repository not found"

    def save(self, instance: Repository | None, fields: dict[str, Any]) -> Repository:
        return repository_save(repository=instance, fields=fields)

    def remove(self, instance: Repository) -> None:
        repository_delete(repository=instance)
