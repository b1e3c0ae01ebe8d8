"""The privacy API: find a customer by e-mail, export their data, erase it (token auth, dedicated permissions).

Customers are addressed by the id the admin shows (the API's order bodies carry the customer's
e-mail, not an id): a shop that only knows the e-mail asks `lookup` first. The e-mail travels in
a POST body, never in a URL, so it stays out of access logs.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.api.errors import ErrorSerializer, InvalidRequestSerializer, error_response
from orders.api.serializers import StrictFieldsMixin
from orders.models import Customer
from privacy import services
from privacy.models import ERASE_PERMISSION, EXPORT_PERMISSION, PrivacyRequest


class HasPrivacyPermission(BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not user.has_perm(view.required_permission):
            self.message = f"This needs the permission {view.required_permission}."
            return False
        return True


class LookupSerializer(StrictFieldsMixin, serializers.Serializer):
    email = serializers.EmailField()
    brand = serializers.SlugField(required=False, default="", help_text="Only this brand's customer")


class EraseSerializer(StrictFieldsMixin, serializers.Serializer):
    force = serializers.BooleanField(
        default=False, help_text="Erase even while orders are in flight (they get no further messages)."
    )


class CustomerRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    brand = serializers.CharField(source="brand.slug")
    orders_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()


_LookupAnswer = inline_serializer("CustomerLookup", {"customers": CustomerRefSerializer(many=True)})
_EraseAnswer = inline_serializer(
    "CustomerErasure",
    {
        "request": serializers.IntegerField(help_text="The PrivacyRequest audit record"),
        "customer_id": serializers.IntegerField(),
        "forced": serializers.BooleanField(),
        "counts": serializers.DictField(child=serializers.IntegerField(), help_text="Rows anonymised per model"),
    },
)
_Refused = inline_serializer(
    "ErasureRefused",
    {
        "error": serializers.CharField(help_text="orders_in_flight"),
        "detail": serializers.CharField(),
        "orders": serializers.ListField(child=serializers.CharField(), help_text="Order numbers still in flight"),
    },
)
_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No or bad credentials"),
    403: OpenApiResponse(ErrorSerializer, description="Missing permission (error: permission_denied)"),
    404: OpenApiResponse(ErrorSerializer, description="No such customer (error: not_found)"),
}


def _customer(pk: int) -> Customer | None:
    return Customer.objects.select_related("brand").filter(pk=pk).first()


def _not_found() -> Response:
    return error_response("not_found", "No such customer.", status.HTTP_404_NOT_FOUND)


@extend_schema(tags=["privacy"])
class CustomerLookupView(APIView):
    permission_classes = [HasPrivacyPermission]
    required_permission = EXPORT_PERMISSION
    parser_classes = [JSONParser]

    @extend_schema(
        request=LookupSerializer,
        responses={200: _LookupAnswer, 400: InvalidRequestSerializer, 401: _ERRORS[401], 403: _ERRORS[403]},
        summary="Find a customer's id by e-mail (one per brand)",
    )
    def post(self, request: Request) -> Response:
        data = LookupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        found = services.customer_lookup(email=data.validated_data["email"], brand=data.validated_data["brand"])
        return Response({"customers": CustomerRefSerializer(found, many=True).data})


@extend_schema(tags=["privacy"])
class CustomerExportView(APIView):
    permission_classes = [HasPrivacyPermission]
    required_permission = EXPORT_PERMISSION

    @extend_schema(
        responses={
            200: OpenApiResponse(description="Every record held about the customer, each with all its fields"),
            **_ERRORS,
        },
        summary="Export all data held about a customer (JSON)",
    )
    def get(self, request: Request, pk: int) -> Response:
        customer = _customer(pk)
        if customer is None:
            return _not_found()
        export = services.customer_export(customer=customer, actor=request.user, via=PrivacyRequest.Via.API)
        return Response(export, headers={"Content-Disposition": f'attachment; filename="customer-{pk}.json"'})


@extend_schema(tags=["privacy"])
class CustomerEraseView(APIView):
    permission_classes = [HasPrivacyPermission]
    required_permission = ERASE_PERMISSION
    parser_classes = [JSONParser]

    @extend_schema(
        request=EraseSerializer,
        responses={200: _EraseAnswer, 400: InvalidRequestSerializer, **_ERRORS, 409: _Refused},
        summary="Erase a customer's personal data (keeps orders, statuses and figures)",
    )
    def post(self, request: Request, pk: int) -> Response:
        data = EraseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if _customer(pk) is None:
            return _not_found()
        try:
            result = services.customer_erase(
                customer_id=pk, actor=request.user, via=PrivacyRequest.Via.API, force=data.validated_data["force"]
            )
        except services.ErasureRefused as refused:
            return error_response(refused.code, refused.detail, status.HTTP_409_CONFLICT, orders=refused.orders)
        return Response(
            {
                "request": result.request.pk,
                "customer_id": pk,
                "forced": result.request.forced,
                "counts": result.counts,
            }
        )
