"""JSON shapes of deployments and webhook deliveries (camelCase, spec §3): records
the API only reads, each field declared once in the body's order."""

from __future__ import annotations

from rest_framework import serializers

from stacks.models import Deployment, WebhookDelivery


class DeploymentSerializer(serializers.Serializer[Deployment]):
    id = serializers.IntegerField(read_only=True)
    # The stack's own count ("#12"); `id` stays the handle for the API's URLs.
    number = serializers.IntegerField(read_only=True)
    stackId = serializers.IntegerField(source="stack_id", read_only=True, allow_null=True)  # a removed stack's history
    status = serializers.ChoiceField(choices=Deployment.Status.choices, read_only=True)
    trigger = serializers.ChoiceField(choices=Deployment.Trigger.choices, read_only=True)
    force = serializers.BooleanField(read_only=True)
    deployed = serializers.BooleanField(read_only=True)
    commitSha = serializers.CharField(source="commit_sha", read_only=True)
    commitMessage = serializers.CharField(source="commit_message", read_only=True)
    commitAuthor = serializers.CharField(source="commit_author", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    startedAt = serializers.DateTimeField(source="started_at", read_only=True, allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", read_only=True, allow_null=True)
    durationMs = serializers.IntegerField(source="duration_ms", read_only=True)
    output = serializers.CharField(source="output_text", read_only=True)
    error = serializers.CharField(read_only=True)
    requestedBy = serializers.CharField(source="requested_by", read_only=True)
    reviewedBy = serializers.CharField(source="reviewed_by", read_only=True)
    note = serializers.CharField(read_only=True)
    targetCommit = serializers.CharField(source="target_commit", read_only=True)
    rollbackTo = serializers.IntegerField(source="rollback_to_id", read_only=True, allow_null=True)
    # A `recovery` deployment: the one a stop or a crash interrupted, which it runs again.
    retryOf = serializers.IntegerField(source="retry_of_id", read_only=True, allow_null=True)
    envSnapshot = serializers.JSONField(source="env_snapshot", read_only=True)
    # Per service: {"service", "image", "digest" (repo@sha256:…), "imageId"}.
    images = serializers.JSONField(read_only=True)
    pushedImage = serializers.CharField(source="pushed_image", read_only=True)
    revision = serializers.CharField(read_only=True)


class DeploymentListSerializer(DeploymentSerializer):
    """A deployment in a list: its output only by reference (spec §5), so a page of
    deployments costs the same whatever they printed."""

    output = None  # type: ignore[assignment]  # DRF: a field set to None is left out
    outputUrl = serializers.SerializerMethodField()

    def get_outputUrl(self, obj: Deployment) -> str:
        return f"/api/deployments/{obj.pk}"


class WebhookDeliverySerializer(serializers.Serializer[WebhookDelivery]):
    id = serializers.IntegerField(read_only=True)
    at = serializers.DateTimeField(source="received_at", read_only=True)
    via = serializers.SerializerMethodField()
    provider = serializers.CharField(read_only=True)
    event = serializers.CharField(read_only=True)
    deliveryId = serializers.CharField(source="delivery_id", read_only=True)
    ref = serializers.CharField(read_only=True)
    result = serializers.ChoiceField(choices=WebhookDelivery.Result.choices, read_only=True)
    reason = serializers.CharField(read_only=True)
    deploymentId = serializers.IntegerField(source="deployment_id", read_only=True, allow_null=True)

    def get_via(self, obj: WebhookDelivery) -> str:
        return "repository" if obj.target.startswith("repository:") else "stack"
