"""Credential and repository endpoints."""

from __future__ import annotations

from typing import Any

from dockhand.api import CollectionView, ItemView
from gitsync.api.serializers import CredentialSerializer, RepositorySerializer
from gitsync.models import Credential, Repository
from gitsync.services.repositories import (
    credential_delete,
    credential_save,
    repository_delete,
    repository_save,
)


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


class RepositoryList(CollectionView):
    serializer, model = RepositorySerializer, Repository

    def save(self, instance: Repository | None, fields: dict[str, Any]) -> Repository:
        return repository_save(repository=instance, fields=fields)


class RepositoryDetail(ItemView):
    serializer, model, not_found = RepositorySerializer, Repository, "Repository not found"

    def save(self, instance: Repository | None, fields: dict[str, Any]) -> Repository:
        return repository_save(repository=instance, fields=fields)

    def remove(self, instance: Repository) -> None:
        repository_delete(repository=instance)
