"""Who holds which role in an environment: `/api/environments/<id>/members[/<userId>]`.

Superusers and the environment's admins manage its members; others do not see the list.
"""

from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import error
from dockhand.tokens import token_environment_ids
from stacks.api.environment_serializers import MembershipSerializer
from stacks.models import Environment, Membership
from stacks.services.access import require, visible_environment_ids
from stacks.services.environments import membership_delete, membership_save


def _environment(request: Request, pk: int) -> Environment | None:
    """The environment if the caller may see it, after checking they administer it."""
    allowed = visible_environment_ids(request.user, token_environment_ids(request))
    if allowed is not None and pk not in allowed:
        return None
    environment = Environment.objects.filter(pk=pk).first()
    if environment is not None:
        require(request.user, environment.pk, Membership.Role.ADMIN)
    return environment


ENVIRONMENT_NOT_FOUND = "Environment not found"


class MemberList(APIView):
    def get(self, request: Request, pk: int) -> Response:
        environment = _environment(request, pk)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        members = environment.memberships.select_related("user").order_by("user__username")
        return Response(MembershipSerializer(members, many=True).data)

    def post(self, request: Request, pk: int) -> Response:
        """Add a member, or change the role of one already there."""
        environment = _environment(request, pk)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        data = MembershipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        membership = membership_save(
            environment=environment,
            user=fields["user"]["username"],
            role=fields["role"],
            allowlisted=fields["allowlisted"],
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetail(APIView):
    def delete(self, request: Request, pk: int, user_id: int) -> Response:
        environment = _environment(request, pk)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        membership = environment.memberships.select_related("user").filter(user_id=user_id).first()
        if membership is None:
            return error("Member not found", status.HTTP_404_NOT_FOUND)
        membership_delete(membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)
