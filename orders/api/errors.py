"""One error shape for the whole API: {"error": "<machine reason>", "detail": ..., "fields": {...}}."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
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
        response.data = {"error": "invalid", "detail": "The request has invalid fields.", "fields": response.data}
    elif isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(response.data["detail"], "code", None) or "error"
        response.data = {"error": code, "detail": str(response.data["detail"])}
    return response


def error_response(code: str, detail: str, http_status: int = status.HTTP_400_BAD_REQUEST, **extra) -> Response:
    return Response({"error": code, "detail": detail, **extra}, status=http_status)


__all__ = ["exception_handler", "error_response", "DjangoPermissionDenied"]
