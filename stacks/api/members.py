"""Who holds which role in an environment: `/api/environments/<id>/members[/<userId>]`.

Superusers and the environment's admins manage its members; others do not see the list.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import error
from dockhand.tokens import token_environment_ids
from stacks.api.environment_serializers import MembershipSerializer
from stacks.models import Environment
from stacks.services.access import members_environment
from stacks.services.environments import environment_members, membership_delete, membership_save


def _environment(request: Request, pk: int) -> Environment | None:
    return members_environment(user=request.user, pk=pk, token_limit=token_environment_ids(request))


ENVIRONMENT_NOT_FOUND = "Environment not found"


class MemberList(APIView):
    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        environment = _environment(request, pk)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        members = environment_members(environment)
        return Response(MembershipSerializer(members, many=True).data)

    @extend_schema(request=MembershipSerializer, responses={201: MembershipSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Add a member, or change the role of one already there."""
        environment = _environment(request, pk)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        data = MembershipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_save(environment=environment, **data.member_fields())
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetail(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int, user_id: int) -> Response:
        environment = _environment(request, pk)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        membership = environment_members(environment).filter(user_id=user_id).first()
        if membership is None:
            return error("Member not found", status.HTTP_404_NOT_FOUND)
        membership_delete(membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)
