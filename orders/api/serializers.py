"""Request and response bodies of the orders API.

Input serializers validate everything a service would otherwise refuse halfway (formats, ranges,
ISO codes), so a bad request is a 400 with field reasons before anything is written. They do not
save: the views hand `validated_data` to `orders.services`. Output serializers are read-only and
expect the querysets of `orders.api.views` (related rows prefetched).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal

import pycountry
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from orders import services
from orders.api.errors import ErrorSerializer
from orders.models import Brand, Customer, Order, OrderLine, Shipment, ShipmentEvent, StatusChange, validate_time_zone
from orders.statuses import OrderStatus
from orders.validators import validate_e164

MAX_INT = 2_147_483_647  # PositiveIntegerField on PostgreSQL
MAX_LINES = 500

# ISO 4217 codes that are not money an order is paid in: precious metals, fund units, test codes.
_NOT_ORDER_CURRENCIES = {"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"}
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


# --- building blocks ----------------------------------------------------------------------------


# Refuse keys the endpoint does not take instead of silently dropping them: a channel that sends
# "status": "shipped" or misspells external_id learns it at once. Keys naming something we only
# ever report (status, number, ...) are called read-only. (A comment, not a docstring: the schema
# would show it as every input body's description.)
class StrictFieldsMixin:
    read_only_names: frozenset[str] = frozenset()

    def to_internal_value(self, data):
        extra = {}
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            for key in data:
                if key in writable:
                    continue
                if key in self.read_only_names:
                    extra[key] = [ErrorDetail("This field is read-only.", code="read_only")]
                else:
                    extra[key] = [ErrorDetail("Unknown field.", code="unknown_field")]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Report unknown keys together with the other mistakes, not one round-trip later.
            if extra and isinstance(exc.detail, dict):
                exc.detail.update(extra)
            raise
        if extra:
            raise serializers.ValidationError(extra)
        return value


class UpperCodeField(serializers.CharField):
    """An ISO code, accepted in any case and stored upper-case."""

    def __init__(self, *, length: int, known, what: str, **kwargs) -> None:
        self.known = known
        self.what = what
        super().__init__(min_length=length, max_length=length, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data).upper()
        if not self.known(value):
            raise serializers.ValidationError(f"{value!r} is not an {self.what} code.", code="invalid_code")
        return value


def _is_country(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


def _is_currency(code: str) -> bool:
    return code not in _NOT_ORDER_CURRENCIES and pycountry.currencies.get(alpha_3=code) is not None


class CoordinateField(serializers.DecimalField):
    """Degrees, rounded to the 6 places we store (about 10 cm): GPS feeds send more digits than that."""

    def __init__(self, *, limit: int, **kwargs) -> None:
        super().__init__(
            max_digits=9,
            decimal_places=6,
            min_value=Decimal(-limit),
            max_value=Decimal(limit),
            coerce_to_string=False,
            rounding=ROUND_HALF_EVEN,
            **kwargs,
        )

    def validate_precision(self, value: Decimal) -> Decimal:
        # Range first: quantizing a huge number to 9 significant digits would raise, not fail.
        if value > self.max_value:
            self.fail("max_value", max_value=self.max_value)
        if value < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


# --- input: POST /api/v1/orders/ ------------------------------------------------------------------


class CustomerInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """The buyer; matched to an existing customer of the brand by e-mail."""

    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254)
    phone = serializers.CharField(
        max_length=20, allow_blank=True, default="", validators=[validate_e164], help_text="E.164, e.g. +14155550123"
    )
    locale = serializers.CharField(max_length=10, allow_blank=True, default="", help_text="e.g. en, fr-CA")
    time_zone = serializers.CharField(
        max_length=64, allow_blank=True, default="", validators=[validate_time_zone], help_text="IANA: Europe/Paris"
    )

    def validate_email(self, value: str) -> str:
        # The service keys customers on the lower-cased address; the same here keeps a repeat
        # that differs only in case an idempotent repeat rather than a conflict.
        return value.strip().lower()

    def validate_locale(self, value: str) -> str:
        if value and not _LOCALE.match(value):
            raise serializers.ValidationError("Use a language tag such as en or fr-CA.")
        return value


class AddressInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Where the parcels go. Coordinates are optional, both or neither, rounded to 6 places."""

    name = serializers.CharField(max_length=200, allow_blank=True, default="", help_text="Defaults to the customer")
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    region = serializers.CharField(max_length=100, allow_blank=True, default="")
    postcode = serializers.CharField(max_length=20, allow_blank=True, default="")
    country = UpperCodeField(length=2, known=_is_country, what="ISO 3166-1 alpha-2 country")
    latitude = CoordinateField(limit=90, allow_null=True, default=None)
    longitude = CoordinateField(limit=180, allow_null=True, default=None)

    def validate(self, attrs: dict) -> dict:
        if (attrs["latitude"] is None) != (attrs["longitude"] is None):
            raise serializers.ValidationError({"latitude": "Send latitude and longitude together, or neither."})
        return attrs


class LineInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """One order line; one line per SKU."""

    sku = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=300)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_INT)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"))


class OrderCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """A new order. Unknown keys, and keys the server sets (status, number, ...), are refused."""

    source = serializers.SlugField(max_length=40, help_text="The sales channel: api, shopify, pos, ...")
    source_account = serializers.CharField(
        max_length=200, allow_blank=True, default="", help_text="The shop or account within the channel"
    )
    external_id = serializers.CharField(
        max_length=200, help_text="The channel's id; (source, source_account, external_id) makes a create idempotent"
    )
    source_number = serializers.CharField(max_length=100, allow_blank=True, default="")
    brand = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Brand.objects.all(),
        required=False,
        help_text="A brand slug; the default brand when left out",
        error_messages={"does_not_exist": "No brand with slug {value}."},
    )
    customer = CustomerInputSerializer()
    shipping_address = AddressInputSerializer()
    lines = LineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES)
    currency = UpperCodeField(length=3, known=_is_currency, what="ISO 4217 currency")
    total = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        help_text="What the customer paid; the sum of the lines when left out",
    )
    promised_from = serializers.DateField(required=False, allow_null=True)
    promised_to = serializers.DateField(required=False, allow_null=True)
    placed_at = serializers.DateTimeField(required=False)
    inventory_allocated = serializers.BooleanField(default=False)

    def validate_lines(self, lines: list[dict]) -> list[dict]:
        # Shipments name lines by SKU, so one SKU must mean one line.
        seen: set[str] = set()
        for line in lines:
            if line["sku"] in seen:
                raise serializers.ValidationError(f"SKU {line['sku']} appears twice; send one line with the sum.")
            seen.add(line["sku"])
        return lines

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("promised_from"), attrs.get("promised_to")
        if start and end and start > end:
            raise serializers.ValidationError({"promised_to": "The promised window ends before it starts."})
        return attrs

    def intake(self) -> dict:
        """Keyword arguments for services.order_create."""
        data = dict(self.validated_data)
        data["customer"] = dict(data["customer"])
        data["shipping_address"] = dict(data["shipping_address"])
        data["lines"] = [services.LineIn(**line) for line in data["lines"]]
        return data


# --- input: PATCH, transitions, shipments -------------------------------------------------------


class OrderFlagsSerializer(StrictFieldsMixin, serializers.Serializer):
    """The only fields a PATCH may change; anything else is refused as read-only or unknown."""

    inventory_allocated = serializers.BooleanField(required=False)
    regulatory_hold = serializers.BooleanField(
        required=False, help_text="Setting it parks a pre-dispatch order in on_hold; clearing it resumes the order"
    )
    regulatory_hold_reason = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="Required with a hold"
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": [f"Send at least one of {', '.join(self.fields)}."]})
        return attrs


class TransitionInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """A lifecycle move by name, with an optional reason for the audit log."""

    transition = serializers.CharField(max_length=64, help_text="One of the order's allowed_transitions")
    reason = serializers.CharField(max_length=500, allow_blank=True, default="")


class ShipmentLineInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """How many of an order line's SKU this parcel carries."""

    sku = serializers.CharField(max_length=100)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_INT)


class ShipmentCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """A parcel handed to (or about to be handed to) a carrier."""

    carrier = serializers.SlugField(max_length=40, help_text="e.g. easypost, ups, dhl")
    tracking_number = serializers.CharField(max_length=100)
    service_level = serializers.CharField(max_length=100, allow_blank=True, default="")
    eta = serializers.DateField(allow_null=True, default=None)
    lines = ShipmentLineInputSerializer(
        many=True,
        required=False,
        allow_empty=False,
        max_length=MAX_LINES,
        help_text="Leave out to ship everything not yet in a shipment",
    )

    def shipment_kwargs(self) -> dict:
        """Keyword arguments for services.shipment_create."""
        data = dict(self.validated_data)
        lines = data.pop("lines", None)
        data["lines"] = None if lines is None else [(line["sku"], line["quantity"]) for line in lines]
        return data


# --- output -------------------------------------------------------------------------------------


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["name", "email", "phone", "locale", "time_zone"]
        read_only_fields = fields


class ShippingAddressSerializer(serializers.Serializer):
    name = serializers.CharField(source="ship_name", read_only=True)
    line1 = serializers.CharField(source="ship_line1", read_only=True)
    line2 = serializers.CharField(source="ship_line2", read_only=True)
    city = serializers.CharField(source="ship_city", read_only=True)
    region = serializers.CharField(source="ship_region", read_only=True)
    postcode = serializers.CharField(source="ship_postcode", read_only=True)
    country = serializers.CharField(source="ship_country", read_only=True)
    latitude = serializers.DecimalField(
        source="ship_latitude", max_digits=9, decimal_places=6, coerce_to_string=False, read_only=True, allow_null=True
    )
    longitude = serializers.DecimalField(
        source="ship_longitude", max_digits=9, decimal_places=6, coerce_to_string=False, read_only=True, allow_null=True
    )


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["sku", "name", "quantity", "unit_price"]
        read_only_fields = fields


class ShipmentEventSerializer(serializers.ModelSerializer):
    location = serializers.SerializerMethodField()

    class Meta:
        model = ShipmentEvent
        fields = ["status", "description", "reason", "location", "occurred_at"]
        read_only_fields = fields

    def get_location(self, event: ShipmentEvent) -> str:
        return ", ".join(part for part in (event.city, event.region, event.postcode, event.country) if part)


class ShipmentLineSerializer(serializers.Serializer):
    sku = serializers.CharField(source="order_line.sku", read_only=True)
    quantity = serializers.IntegerField(read_only=True)


class ShipmentSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.number", read_only=True, help_text="The order number")
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    lines = ShipmentLineSerializer(many=True, read_only=True)
    events = ShipmentEventSerializer(many=True, read_only=True)

    class Meta:
        model = Shipment
        fields = [
            "tracking_id",
            "order",
            "carrier",
            "service_level",
            "tracking_number",
            "status",
            "status_display",
            "eta",
            "dispatched_at",
            "delivered_at",
            "lines",
            "events",
            "created_at",
        ]
        read_only_fields = fields


class StatusChangeSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True, help_text="Username")
    shipment_tracking_id = serializers.CharField(
        source="shipment.tracking_id", read_only=True, allow_null=True, help_text="Null for a move of the order"
    )

    class Meta:
        model = StatusChange
        fields = [
            "shipment_tracking_id",
            "from_status",
            "to_status",
            "transition",
            "source",
            "actor",
            "reason",
            "occurred_at",
        ]
        read_only_fields = fields


class TransitionOptionSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    target = serializers.CharField(read_only=True, help_text="The status the order would take")


class OrderSerializer(serializers.ModelSerializer):
    """An order as the list returns it: everything but the per-caller allowed transitions."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    brand = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    customer = CustomerSerializer(read_only=True)
    shipping_address = ShippingAddressSerializer(source="*", read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)
    tracking_url = serializers.URLField(read_only=True, help_text="The customer's tracking page")
    shipments = ShipmentSerializer(many=True, read_only=True)
    history = StatusChangeSerializer(many=True, read_only=True, help_text="Moves of the order and its shipments")

    class Meta:
        model = Order
        fields = [
            "number",
            "status",
            "status_display",
            "brand",
            "source",
            "source_account",
            "external_id",
            "source_number",
            "customer",
            "shipping_address",
            "lines",
            "currency",
            "total",
            "promised_from",
            "promised_to",
            "placed_at",
            "inventory_allocated",
            "regulatory_hold",
            "regulatory_hold_reason",
            "tracking_url",
            "shipments",
            "history",
            "status_changed_at",
            "delivered_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderDetailSerializer(OrderSerializer):
    """One order, with the moves the caller may make on it now."""

    allowed_transitions = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "allowed_transitions"]
        read_only_fields = fields

    @extend_schema_field(TransitionOptionSerializer(many=True))
    def get_allowed_transitions(self, order: Order) -> list[dict]:
        return services.order_available_transitions(order=order, user=self.context["request"].user)


# Keys a client may try to send but that only the server sets.
_REPORTED = frozenset(OrderDetailSerializer.Meta.fields)
OrderCreateSerializer.read_only_names = _REPORTED - set(OrderCreateSerializer._declared_fields)
OrderFlagsSerializer.read_only_names = _REPORTED - set(OrderFlagsSerializer._declared_fields)


# --- list filters -------------------------------------------------------------------------------


class OrderFilterSerializer(serializers.Serializer):
    """The list's query parameters (others, such as cursor and page_size, belong to the paginator)."""

    status = serializers.CharField(
        required=False, help_text=f"One status or several, comma-separated: {', '.join(OrderStatus.values)}"
    )
    updated_since = serializers.DateTimeField(
        required=False, help_text="ISO 8601; orders updated at or after this instant (poll with the last updated_at)"
    )
    brand = serializers.SlugField(required=False, help_text="A brand slug")

    def to_internal_value(self, data):
        # An unencoded "+" in a query string arrives as a space: 2026-11-22T10:00:00 01:00.
        raw = data.get("updated_since")
        if isinstance(raw, str) and "T" in raw and " " in raw.strip():
            data = {**data, "updated_since": raw.strip().replace(" ", "+")}
        return super().to_internal_value(data)

    def validate_status(self, value: str) -> list[str]:
        wanted = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [part for part in wanted if part not in OrderStatus.values]
        if unknown or not wanted:
            raise serializers.ValidationError(
                f"Unknown status {', '.join(unknown) or repr(value)}; use {', '.join(OrderStatus.values)}."
            )
        return wanted

    def validate_brand(self, value: str) -> Brand:
        brand = Brand.objects.filter(slug=value).first()
        if brand is None:
            raise serializers.ValidationError(f"No brand with slug {value}.")
        return brand


# --- error bodies specific to orders (for the schema; the shape is orders.api.errors') ----------


class OrderConflictSerializer(ErrorSerializer):
    number = serializers.CharField(help_text="The existing order with this source, account and external id")


class TransitionNotAllowedSerializer(ErrorSerializer):
    reason = serializers.CharField(
        help_text="unknown_transition, not_allowed_from_<status> or condition_failed:<condition,...>"
    )
    status = serializers.CharField(help_text="The order's status now")
    allowed_transitions = TransitionOptionSerializer(many=True)
