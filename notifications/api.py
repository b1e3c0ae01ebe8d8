"""The notifications API: an order's notification log, device tokens and the in-app feed."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.models import Channel, DeviceToken, Notification
from orders.api.errors import ErrorSerializer, InvalidRequestSerializer
from orders.models import Order

ERRORS = {401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


class HasPerms(BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms(view.required_permissions))


class NotificationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    recipient = serializers.CharField(source="masked_recipient", read_only=True)
    shipment = serializers.CharField(source="shipment.tracking_id", default=None, read_only=True)

    class Meta:
        model = Notification
        fields = [
            "id",
            "event",
            "audience",
            "channel",
            "provider",
            "status",
            "status_reason",
            "attempts",
            "recipient",
            "shipment",
            "locale",
            "created_at",
            "due_at",
            "sent_at",
            "delivered_at",
            "updated_at",
        ]
        read_only_fields = fields


class NotificationListSerializer(serializers.Serializer):
    order = serializers.CharField()
    count = serializers.IntegerField()
    results = NotificationSerializer(many=True)


class OrderNotificationsView(APIView):
    """GET /api/v1/orders/{number}/notifications/: every message about this order, oldest first."""

    required_permissions = ["orders.view_order", "notifications.view_notification"]
    permission_classes = [HasPerms]

    @extend_schema(
        tags=["notifications"],
        summary="An order's notifications (recipients masked)",
        responses={200: NotificationListSerializer, **ERRORS},
    )
    def get(self, request: Request, number: str) -> Response:
        order = get_object_or_404(Order, number=number)
        rows = Notification.objects.filter(order=order).select_related("shipment").order_by("created_at", "id")
        data = NotificationSerializer(rows, many=True).data
        return Response({"order": order.number, "count": len(data), "results": data})


class DeviceInSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=DeviceToken.Provider.choices)
    token = serializers.CharField(max_length=500)
    platform = serializers.ChoiceField(choices=["ios", "android", "web", ""], required=False, default="")


class DeviceOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField(required=False)
    active = serializers.BooleanField()


DEVICE_SCHEMA = extend_schema(
    tags=["notifications"],
    request=DeviceInSerializer,
    responses={201: DeviceOutSerializer, 200: DeviceOutSerializer, 400: InvalidRequestSerializer, **ERRORS},
)


def _register(order: Order, data: dict) -> tuple[DeviceToken, bool]:
    customer = order.customer
    try:
        with transaction.atomic():
            device, created = DeviceToken.objects.update_or_create(
                provider=data["provider"],
                token=data["token"],
                defaults={"customer": customer, "platform": data.get("platform", ""), "active": True, "last_error": ""},
            )
    except IntegrityError:  # a concurrent twin registered it first
        device, created = DeviceToken.objects.get(provider=data["provider"], token=data["token"]), False
    if not customer.consent_push:
        # Registering a device from the shop's app is the customer allowing push.
        type(customer).objects.filter(pk=customer.pk).update(consent_push=True, consent_updated_at=timezone.now())
    return device, created


class OrderDeviceView(APIView):
    """POST /api/v1/orders/{number}/devices/: the shop's app registers the customer's device (token auth)."""

    required_permissions = ["orders.view_order", "notifications.add_devicetoken"]
    permission_classes = [HasPerms]

    @DEVICE_SCHEMA
    def post(self, request: Request, number: str) -> Response:
        order = get_object_or_404(Order, number=number)
        incoming = DeviceInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        device, created = _register(order, incoming.validated_data)
        return Response(
            {"id": device.pk, "provider": device.provider, "active": device.active},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class TrackingDeviceView(APIView):
    """POST /t/{token}/devices/: the tracking page registers a browser or phone; the order's token is the proof."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @DEVICE_SCHEMA
    def post(self, request: Request, token: str) -> Response:
        order = get_object_or_404(Order, tracking_token=token)
        incoming = DeviceInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        device, created = _register(order, incoming.validated_data)
        return Response({"id": device.pk, "active": device.active}, status=201 if created else 200)


class FeedItemSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    order = serializers.CharField(source="order.number", read_only=True)
    title = serializers.CharField(source="subject", read_only=True)
    body = serializers.CharField(source="body_text", read_only=True)
    url = serializers.SerializerMethodField()
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "order", "event", "title", "body", "url", "created_at", "read", "read_at"]

    def get_url(self, obj: Notification) -> str:
        return obj.order.tracking_url

    def get_read(self, obj: Notification) -> bool:
        return obj.read_at is not None


class FeedSerializer(serializers.Serializer):
    unread = serializers.IntegerField()
    results = FeedItemSerializer(many=True)


class FeedReadSerializer(serializers.Serializer):
    read = serializers.BooleanField()
    changed = serializers.BooleanField()


FEED_SCHEMA = extend_schema(tags=["notifications"], responses={200: FeedSerializer, **ERRORS})


def feed_for(order: Order):
    return (
        Notification.objects.filter(
            customer=order.customer, channel=Channel.INAPP, status=Notification.Status.DELIVERED
        )
        .select_related("order")
        .order_by("-created_at", "-id")[:100]
    )


class OrderFeedView(APIView):
    """GET /api/v1/orders/{number}/feed/: the in-app feed of this order's customer (newest first)."""

    required_permissions = ["orders.view_order", "notifications.view_notification"]
    permission_classes = [HasPerms]

    @FEED_SCHEMA
    def get(self, request: Request, number: str) -> Response:
        order = get_object_or_404(Order, number=number)
        items = feed_for(order)
        unread = sum(1 for n in items if n.read_at is None)
        return Response({"unread": unread, "results": FeedItemSerializer(items, many=True).data})


class TrackingFeedView(APIView):
    """GET /t/{token}/feed/ and POST /t/{token}/feed/{id}/read/: the feed as the tracking page shows it."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @FEED_SCHEMA
    def get(self, request: Request, token: str) -> Response:
        order = get_object_or_404(Order, tracking_token=token)
        items = feed_for(order)
        return Response(
            {"unread": sum(1 for n in items if n.read_at is None), "results": FeedItemSerializer(items, many=True).data}
        )


class TrackingFeedReadView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(tags=["notifications"], request=None, responses={200: FeedReadSerializer, 404: ErrorSerializer})
    def post(self, request: Request, token: str, public_id: str) -> Response:
        order = get_object_or_404(Order, tracking_token=token)
        updated = Notification.objects.filter(
            public_id=public_id, customer=order.customer, channel=Channel.INAPP, read_at__isnull=True
        ).update(read_at=timezone.now())
        return Response({"read": True, "changed": bool(updated)})


tracking_device = csrf_exempt(TrackingDeviceView.as_view())
