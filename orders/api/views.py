"""The orders REST API under /api/v1/: thin views over orders.services.

Who may call what is `OrderPermission` (Django model permissions per action); which lifecycle
moves a caller may make is the state machine's own permission, checked by the service.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from orders import services
from orders.api.errors import ErrorSerializer, InvalidRequestSerializer, error_response
from orders.api.serializers import (
    OrderConflictSerializer,
    OrderCreateSerializer,
    OrderDetailSerializer,
    OrderFilterSerializer,
    OrderFlagsSerializer,
    OrderSerializer,
    ShipmentCreateSerializer,
    ShipmentSerializer,
    TransitionInputSerializer,
    TransitionNotAllowedSerializer,
)
from orders.exceptions import OrderConflict, TransitionRefused
from orders.models import Order, Shipment, ShipmentLine, StatusChange
from orders.sources.validation import api_refusals


def _shipments_with_details() -> QuerySet[Shipment]:
    return Shipment.objects.prefetch_related(
        "events", Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line"))
    )


def orders_with_details(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """Everything the order serializers read, in a fixed number of queries whatever the size."""
    return queryset.select_related("brand", "customer").prefetch_related(
        "lines",
        Prefetch("shipments", queryset=_shipments_with_details()),
        Prefetch("history", queryset=StatusChange.objects.select_related("actor", "shipment")),
    )


class OrderCursorPagination(CursorPagination):
    # Oldest change first: a poller walks forward from its last updated_at, and an order that
    # changes while it pages moves to the end and is seen again rather than skipped.
    ordering = ("updated_at", "id")
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot decode with 404; it is a bad parameter, so a 400 naming it.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None


class OrderPermission(BasePermission):
    """Each action needs the model permissions in the view's `required_permissions`; an unlisted action is refused."""

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if view.action is None:
            return True  # a method the route does not take: let the view answer 405
        needed = view.required_permissions.get(view.action)
        if needed is None:
            return False
        missing = [perm for perm in needed if not user.has_perm(perm)]
        if missing:
            self.message = f"This needs the permission {', '.join(missing)}."
        return not missing


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    described = {
        400: OpenApiResponse(InvalidRequestSerializer, description="Invalid fields (error: invalid)"),
        401: OpenApiResponse(ErrorSerializer, description="No or bad credentials"),
        403: OpenApiResponse(ErrorSerializer, description="Missing permission (error: permission_denied)"),
        404: OpenApiResponse(ErrorSerializer, description="No such order (error: not_found)"),
        429: OpenApiResponse(ErrorSerializer, description="Throttled (error: throttled); see Retry-After"),
    }
    return {code: described[code] for code in codes}


_CREATE_EXAMPLE = OpenApiExample(
    "Minimal order",
    request_only=True,
    value={
        "source": "api",
        "external_id": "A-1",
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+14155550123"},
        "shipping_address": {
            "line1": "1 Main St",
            "city": "New York",
            "postcode": "10001",
            "country": "US",
            "latitude": 40.7,
            "longitude": -74.0,
        },
        "lines": [{"sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}],
        "currency": "USD",
    },
)


@extend_schema(tags=["orders"])
class OrderViewSet(viewsets.GenericViewSet):
    queryset = Order.objects.all()
    serializer_class = OrderDetailSerializer
    permission_classes = [OrderPermission]
    pagination_class = OrderCursorPagination
    # Bodies are nested (customer, lines): JSON only, also from the browsable API's raw form.
    parser_classes = [JSONParser]
    lookup_field = "number"
    lookup_value_regex = r"[A-Za-z0-9][A-Za-z0-9_-]*"
    required_permissions = {
        "list": ["orders.view_order"],
        "retrieve": ["orders.view_order"],
        "metadata": ["orders.view_order"],
        "create": ["orders.add_order"],
        "partial_update": ["orders.view_order", "orders.change_order"],
        # Which moves a caller may make is the state machine's transition_order permission.
        "transitions": ["orders.view_order"],
        "shipments": ["orders.view_order", "orders.add_shipment"],
    }

    def get_queryset(self) -> QuerySet[Order]:
        if self.action in ("list", "retrieve"):
            return orders_with_details(Order.objects.all())
        # Writes only need the row; the answer is read again afterwards.
        return Order.objects.all()

    def get_serializer_class(self):
        return {
            "list": OrderSerializer,
            "create": OrderCreateSerializer,
            "partial_update": OrderFlagsSerializer,
            "transitions": TransitionInputSerializer,
            "shipments": ShipmentCreateSerializer,
        }.get(self.action, OrderDetailSerializer)

    def get_object(self) -> Order:
        try:
            return super().get_object()
        except Http404:
            raise NotFound(f"No order {self.kwargs.get(self.lookup_field)}.") from None

    def _order_response(self, order: Order, http_status: int = status.HTTP_200_OK, headers=None) -> Response:
        order = orders_with_details(Order.objects.all()).get(pk=order.pk)
        data = OrderDetailSerializer(order, context=self.get_serializer_context()).data
        return Response(data, status=http_status, headers=headers)

    @extend_schema(
        summary="List orders",
        description=(
            "Oldest change first (updated_at, id), cursor-paged. To poll, pass the last `updated_at` you "
            "saw as `updated_since` (inclusive) and process orders idempotently. The list leaves out "
            "`allowed_transitions`; read one order for them."
        ),
        parameters=[OrderFilterSerializer],
        responses={200: OrderSerializer(many=True), **_errors(400, 401, 403, 429)},
    )
    def list(self, request: Request) -> Response:
        filters = OrderFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        queryset = self.get_queryset()
        if "status" in wanted:
            queryset = queryset.filter(status__in=wanted["status"])
        if "updated_since" in wanted:
            queryset = queryset.filter(updated_at__gte=wanted["updated_since"])
        if "brand" in wanted:
            queryset = queryset.filter(brand=wanted["brand"])
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(OrderSerializer(page, many=True, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Read one order",
        responses={200: OrderDetailSerializer, **_errors(401, 403, 404, 429)},
    )
    def retrieve(self, request: Request, number: str) -> Response:
        order = self.get_object()
        return Response(OrderDetailSerializer(order, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Create an order (idempotent)",
        description=(
            "Idempotent on (source, source_account, external_id): a repeat with the same content answers 200 "
            "with the existing order; a repeat with different content answers 409 with the existing number."
        ),
        request=OrderCreateSerializer,
        examples=[_CREATE_EXAMPLE],
        responses={
            201: OrderDetailSerializer,
            200: OpenApiResponse(OrderDetailSerializer, description="A repeat of an earlier create: that order"),
            409: OpenApiResponse(OrderConflictSerializer, description="Same key, different content (error: conflict)"),
            **_errors(400, 401, 403, 429),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The order sources' validation rules (orders/sources/validation.py) govern this entry too.
        refusals = api_refusals(data=request.data)
        if refusals:
            raise ValidationError(refusals)
        try:
            order, created = services.order_create(**serializer.intake(), actor=request.user)
        except OrderConflict as exc:
            return error_response(
                "conflict",
                "An order with this source, source_account and external_id exists with different content.",
                status.HTTP_409_CONFLICT,
                number=exc.order.number,
            )
        location = self.reverse_action("detail", kwargs={"number": order.number})
        return self._order_response(
            order, status.HTTP_201_CREATED if created else status.HTTP_200_OK, headers={"Location": location}
        )

    @extend_schema(
        summary="Set warehouse and compliance flags",
        description=(
            "Only inventory_allocated, regulatory_hold and regulatory_hold_reason; any other field is refused. "
            "A hold (which needs a reason) parks a pre-dispatch order in on_hold; clearing it resumes the order."
        ),
        request=OrderFlagsSerializer,
        responses={200: OrderDetailSerializer, **_errors(400, 401, 403, 404, 429)},
    )
    def partial_update(self, request: Request, number: str) -> Response:
        order = self.get_object()
        serializer = OrderFlagsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.order_set_flags(order=order, source="api", actor=request.user, **serializer.validated_data)
        return self._order_response(order)

    @extend_schema(
        summary="Move an order through its lifecycle",
        description="`transition` is one of the order's `allowed_transitions` for the caller.",
        request=TransitionInputSerializer,
        responses={
            200: OrderDetailSerializer,
            409: OpenApiResponse(
                TransitionNotAllowedSerializer,
                description="Not allowed now or unknown (error: transition_not_allowed)",
            ),
            **_errors(400, 401, 403, 404, 429),
        },
    )
    @action(detail=True, methods=["post"])
    def transitions(self, request: Request, number: str) -> Response:
        order = self.get_object()
        serializer = TransitionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["transition"]
        try:
            order = services.order_transition(
                order=order,
                transition=name,
                source="api",
                actor=request.user,
                reason=serializer.validated_data["reason"],
            )
        except TransitionRefused as exc:
            order.refresh_from_db()
            return error_response(
                "transition_not_allowed",
                f"The order cannot {name} now.",
                status.HTTP_409_CONFLICT,
                reason=exc.reason,
                status=order.status,
                allowed_transitions=services.order_available_transitions(order=order, user=request.user),
            )
        return self._order_response(order)

    @extend_schema(
        summary="Register a shipment (a parcel) for the order",
        description="`lines` (sku, quantity) default to everything not yet in a shipment.",
        request=ShipmentCreateSerializer,
        responses={201: ShipmentSerializer, **_errors(400, 401, 403, 404, 429)},
    )
    @action(detail=True, methods=["post"])
    def shipments(self, request: Request, number: str) -> Response:
        order = self.get_object()
        serializer = ShipmentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        shipment = services.shipment_create(
            order=order, source="api", actor=request.user, **serializer.shipment_kwargs()
        )
        shipment = _shipments_with_details().select_related("order").get(pk=shipment.pk)
        return Response(ShipmentSerializer(shipment).data, status=status.HTTP_201_CREATED)
