"""GET /api/audit: the audit trail, as far as the caller may read it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import paged
from dockhand.models import ApiToken, AuditEvent
from dockhand.openapi import PAGE_PARAMETERS, paged_of
from dockhand.tokens import token_environment_ids
from stacks.services.access import visible_audit_events


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = ["at", "actor", "action", "object", "detail"]


class AuditList(APIView):
    """GET /api/audit?limit=&offset=: newest first."""

    read_scope = ApiToken.Scope.ADMIN

    @extend_schema(
        responses=paged_of("AuditPage", AuditEventSerializer), parameters=PAGE_PARAMETERS, summary="List audit events"
    )
    def get(self, request: Request) -> Response:
        events = visible_audit_events(request.user, token_environment_ids(request))
        return paged(request, events, AuditEventSerializer)
