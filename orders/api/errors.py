"""One error shape for the whole API: {"error": "<machine reason>", "detail": ..., "fields": {...}}."""

from __future__ import annotations

import re

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views.defaults import page_not_found
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = ValidationError(fields)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        fields = response.data
        if not isinstance(fields, dict):
            # ValidationError("...") raised outside a serializer: still one shape for clients.
            fields = {"non_field_errors": fields if isinstance(fields, list) else [fields]}
        response.data = {"error": "invalid", "detail": "The request has invalid fields.", "fields": fields}
    elif isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(response.data["detail"], "code", None) or "error"
        response.data = {"error": code, "detail": str(response.data["detail"])}
        if response.status_code == status.HTTP_400_BAD_REQUEST:
            # A body that does not parse is a 400 too: keep the documented 400 shape (fields included).
            response.data["fields"] = {}
    return response


# Paths whose clients are programs: a 404 there answers in the API's shape, never an HTML page.
_JSON_PATHS = re.compile(r"^/(api|webhooks)/|^/t/[^/]+/(feed|devices)/|^/t/[^/]+/status\.json$")


def not_found(request, exception=None):
    """handler404: JSON for API, webhook and tracking-feed paths; Django's page for the rest."""
    if _JSON_PATHS.match(request.path_info):
        return JsonResponse({"error": "not_found", "detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return page_not_found(request, exception)


def error_response(code: str, detail: str, http_status: int = status.HTTP_400_BAD_REQUEST, **extra) -> Response:
    return Response({"error": code, "detail": detail, **extra}, status=http_status)


# --- the shapes, for the OpenAPI schema ---------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Machine-readable: not_found, not_authenticated, permission_denied, ...")
    detail = serializers.CharField(help_text="For people")


class InvalidRequestSerializer(ErrorSerializer):
    """A 400: `error` is "invalid" and `fields` maps each bad field (nested as the body is) to reasons."""

    def get_fields(self):
        # "fields" cannot be a class attribute of a serializer: it is the serializer's own field map.
        fields = super().get_fields()
        fields["fields"] = serializers.DictField(
            child=serializers.JSONField(),
            help_text='e.g. {"customer": {"phone": ["Use E.164 ..."]}, "lines": ["This list may not be empty."]}',
        )
        return fields


__all__ = [
    "exception_handler",
    "error_response",
    "not_found",
    "DjangoPermissionDenied",
    "ErrorSerializer",
    "InvalidRequestSerializer",
]
