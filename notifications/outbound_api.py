"""API to subscribe endpoints to outbound webhooks, rotate their secrets and replay messages.

/api/v1/webhooks/endpoints/ (list, create), /{id}/ (read, change, delete), /{id}/rotate-secret/,
/{id}/replay/ ("everything failed since T"), /{id}/messages/, /api/v1/webhooks/messages/{id}/replay/,
/api/v1/webhooks/event-types/. The secret is returned once, on create and on rotate.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from notifications import netguard, outbound
from notifications.outbound_models import EventType, WebhookAttempt, WebhookEndpoint, WebhookMessage
from orders.api.errors import ErrorSerializer, InvalidRequestSerializer, error_response
from orders.models import Brand

ERRORS = {400: InvalidRequestSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
# What any call may answer besides its own result (documented so clients and the fuzzer know).
DENIED = {401: ErrorSerializer, 403: ErrorSerializer}
MISSING = {**DENIED, 404: ErrorSerializer}
CONFLICT = {409: ErrorSerializer}


class EndpointPermission(BasePermission):
    needed = {
        "list": "view",
        "retrieve": "view",
        "messages": "view",
        "create": "add",
        "partial_update": "change",
        "rotate_secret": "change",
        "destroy": "delete",
        "replay": "replay",
    }

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        verb = self.needed.get(getattr(view, "action", None) or "", "view")
        return user.has_perm(f"notifications.{verb}_webhookendpoint")


class EndpointSerializer(serializers.ModelSerializer):
    brand = serializers.SlugRelatedField(
        slug_field="slug", queryset=Brand.objects.all(), required=False, allow_null=True
    )
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices), allow_empty=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "brand",
            "event_types",
            "enabled",
            "failing_since",
            "last_success_at",
            "disabled_at",
            "disabled_reason",
            "secret_rotated_at",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "failing_since",
            "last_success_at",
            "disabled_at",
            "disabled_reason",
            "secret_rotated_at",
            "created_at",
        ]

    def validate_url(self, value: str) -> str:
        try:
            netguard.check_url(value)
        except netguard.UnsafeDestination as exc:
            raise serializers.ValidationError(f"Unsafe destination: {exc.reason}.") from None
        return value


class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="whsec_...: shown once; verify webhook-signature with it")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "started_at", "latency_ms", "outcome", "status_code", "error", "retry_at"]


class MessageSerializer(serializers.ModelSerializer):
    attempt_log = AttemptSerializer(many=True, read_only=True)
    event_type = serializers.CharField(read_only=True, help_text="One of /api/v1/webhooks/event-types/")

    class Meta:
        model = WebhookMessage
        fields = [
            "id",
            "msg_id",
            "event_type",
            "status",
            "status_reason",
            "attempts",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "attempt_log",
        ]


class ReplaySinceSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Replay every message that failed and was created at or after this")


class RotateSerializer(serializers.Serializer):
    overlap_hours = serializers.IntegerField(min_value=0, max_value=24 * 7, default=24)


@extend_schema(tags=["webhooks"])
@extend_schema_view(
    list=extend_schema(responses={200: EndpointSerializer(many=True), **DENIED}),
    retrieve=extend_schema(responses={200: EndpointSerializer, **MISSING}),
    destroy=extend_schema(responses={204: None, **MISSING}),
)
class EndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = WebhookEndpoint.objects.select_related("brand").order_by("id")
    serializer_class = EndpointSerializer
    permission_classes = [EndpointPermission]
    parser_classes = [JSONParser]
    pagination_class = None  # a handful of endpoints per installation

    @extend_schema(
        summary="Subscribe an endpoint to event types (the secret is in the answer, once)",
        request=EndpointSerializer,
        responses={201: EndpointCreatedSerializer, **ERRORS},
    )
    def create(self, request):
        serializer = EndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint, secret = outbound.endpoint_create(
            url=data["url"],
            event_types=data["event_types"],
            description=data.get("description", ""),
            brand=data.get("brand"),
            actor=request.user,
            # Created disabled in one write: never seen enabled, not even by a cache for a moment.
            enabled=data.get("enabled", True),
        )
        body = EndpointSerializer(endpoint).data
        return Response({**body, "secret": secret}, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change an endpoint (enabling it again clears its failure record)",
        responses={200: EndpointSerializer, **ERRORS},
    )
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        serializer = EndpointSerializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        re_enable = serializer.validated_data.get("enabled") is True and not endpoint.enabled
        endpoint = serializer.save()
        if re_enable:
            outbound.endpoint_enable(endpoint=endpoint)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Rotate the signing secret (the old one keeps signing for overlap_hours)",
        request=RotateSerializer,
        responses={200: inline_serializer("RotatedSecret", {"secret": serializers.CharField()}), **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint = self.get_object()
        serializer = RotateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        secret = outbound.endpoint_rotate_secret(
            endpoint=endpoint, overlap_hours=serializer.validated_data["overlap_hours"]
        )
        return Response({"secret": secret})

    @extend_schema(
        summary="Replay everything that failed since T",
        request=ReplaySinceSerializer,
        responses={
            200: inline_serializer("ReplayCount", {"replayed": serializers.IntegerField()}),
            **ERRORS,
            **CONFLICT,
        },
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        endpoint = self.get_object()
        serializer = ReplaySinceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            count = outbound.endpoint_replay_failed_since(endpoint=endpoint, since=serializer.validated_data["since"])
        except DjangoValidationError as exc:
            return error_response("endpoint_disabled", " ".join(exc.messages), status.HTTP_409_CONFLICT)
        return Response({"replayed": count})

    @extend_schema(
        summary="The endpoint's latest messages and their attempts",
        responses={200: MessageSerializer(many=True), **MISSING},
    )
    @action(detail=True, methods=["get"])
    def messages(self, request, pk=None):
        endpoint = self.get_object()
        rows = endpoint.messages.prefetch_related("attempt_log").order_by("-created_at", "-id")[:100]
        return Response(MessageSerializer(rows, many=True).data)


class MessageReplayView(APIView):
    permission_classes = [EndpointPermission]
    action = "replay"

    @extend_schema(
        tags=["webhooks"],
        summary="Replay one message (same webhook-id, a new round of attempts)",
        request=None,
        responses={200: MessageSerializer, **ERRORS, **CONFLICT},
    )
    def post(self, request, pk: int):
        message = get_object_or_404(WebhookMessage.objects.select_related("endpoint"), pk=pk)
        try:
            message = outbound.message_replay(message=message)
        except DjangoValidationError as exc:
            return error_response("endpoint_disabled", " ".join(exc.messages), status.HTTP_409_CONFLICT)
        return Response(MessageSerializer(message).data)


_EVENT_TYPE_ROW = inline_serializer(
    "EventTypeRow", {"type": serializers.CharField(), "label": serializers.CharField()}, many=True
)


class EventTypesView(APIView):
    permission_classes = [EndpointPermission]
    action = "list"

    @extend_schema(tags=["webhooks"], summary="Event types to subscribe to", responses={200: _EVENT_TYPE_ROW, **DENIED})
    def get(self, request):
        return Response([{"type": value, "label": label} for value, label in EventType.choices])


webhooks_router = SimpleRouter()
webhooks_router.register("api/v1/webhooks/endpoints", EndpointViewSet, basename="webhook-endpoint")

urlpatterns = [
    *webhooks_router.urls,
    path("api/v1/webhooks/messages/<int:pk>/replay/", MessageReplayView.as_view(), name="webhook-message-replay"),
    path("api/v1/webhooks/event-types/", EventTypesView.as_view(), name="webhook-event-types"),
]
