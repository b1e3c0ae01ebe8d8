"""POST /webhooks/sources/<source>/: verify, store the exact bytes, acknowledge, apply from a queue.

Thin on purpose (like carriers/views.py): no DRF authentication, throttling or parsers touch the
body; the adapter proves who sent it, the raw bytes are stored before anything can fail, and the
order is applied by a task (in-process in the demo and tests), so a burst is absorbed by the queue.
"""

from __future__ import annotations

import logging

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.api.errors import error_response
from orders.sources import schema, services, tasks
from orders.sources.base import VerificationError
from orders.sources.registry import get_adapter

logger = logging.getLogger(__name__)
security_log = logging.getLogger("oms_notify.security")


class SourceWebhookView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes: list = []
    source = ""

    def post(self, request):
        limit = settings.SOURCE_WEBHOOK_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return self._reject(request, "", declared, "too_large", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        body = request.body
        if len(body) > limit:
            return self._reject(request, "", len(body), "too_large", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        adapter = get_adapter(self.source)
        headers = dict(request.headers)
        if adapter.is_ping(headers, body):
            logger.info("source webhook ping", extra={"source": self.source})
            return Response({"status": "ping"}, status=status.HTTP_200_OK)
        identifier = adapter.account_identifier(headers, body)
        try:
            account, secrets = services.source_secrets(source=self.source, identifier=identifier)
            adapter.verify(headers, body, secrets)
        except services.InactiveAccount:
            return self._reject(request, identifier, len(body), "inactive_account")
        except VerificationError as exc:
            return self._reject(request, identifier, len(body), exc.reason)

        raw, created = services.intake_store(
            source=self.source,
            body=body,
            headers=headers,
            account=account,
            account_identifier=identifier,
            source_address=request.META.get("REMOTE_ADDR") or None,
        )
        if not created:
            return Response({"status": "duplicate", "id": raw.pk}, status=status.HTTP_200_OK)
        try:
            tasks.process_intake.delay(raw.pk)
        except Exception:  # broker down: the row is safe, the sweeper applies it
            logger.exception("could not enqueue intake", extra={"intake": raw.pk, "source": self.source})
        raw.refresh_from_db(fields=["status"])
        answer = "queued" if raw.status == raw.Status.RECEIVED else raw.status
        return Response({"status": answer, "id": raw.pk}, status=status.HTTP_202_ACCEPTED)

    def _reject(self, request, account: str, size: int, reason: str, code: int = 401) -> Response:
        # Never the body, never the headers: they may carry the credential.
        security_log.warning(
            "source webhook rejected",
            extra={
                "source": self.source,
                "account": account,
                "source_address": request.META.get("REMOTE_ADDR", ""),
                "size": size,
                "reason": reason,
            },
        )
        detail = "Body over the size limit." if code == 413 else "The request does not prove who sent it."
        return error_response(reason, detail, code)


@extend_schema_view(
    post=extend_schema(
        operation_id="source_shopify_webhook",
        summary="Shopify order webhooks",
        description=schema.SHOPIFY_DESCRIPTION,
        request={"application/json": schema.VendorPayloadSerializer},
        parameters=schema.SHOPIFY_HEADERS,
        responses=schema.RESPONSES,
        tags=["webhooks"],
    )
)
class ShopifyWebhookView(SourceWebhookView):
    source = "shopify"


@extend_schema_view(
    post=extend_schema(
        operation_id="source_woocommerce_webhook",
        summary="WooCommerce order webhooks",
        description=schema.WOOCOMMERCE_DESCRIPTION,
        request={"application/json": schema.VendorPayloadSerializer},
        parameters=schema.WOOCOMMERCE_HEADERS,
        responses=schema.RESPONSES,
        tags=["webhooks"],
    )
)
class WooCommerceWebhookView(SourceWebhookView):
    source = "woocommerce"


@extend_schema_view(
    post=extend_schema(
        operation_id="source_generic_webhook",
        summary="Orders from any system (CRM, ERP, in-house), Standard Webhooks signed",
        description=schema.GENERIC_DESCRIPTION,
        request={"application/json": schema.GenericOrderMessageSerializer},
        parameters=schema.GENERIC_HEADERS,
        responses=schema.RESPONSES,
        examples=schema.GENERIC_EXAMPLES,
        tags=["webhooks"],
    )
)
class GenericWebhookView(SourceWebhookView):
    source = "generic"


class CanViewIntakes(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("orders.view_rawintake"))


class SourcesHealthView(APIView):
    permission_classes = [CanViewIntakes]

    @extend_schema(
        operation_id="sources_health",
        summary="Health of each order source: last payload, error rate (24 h), backlog",
        responses={200: schema.HealthSerializer(many=True)},
        tags=["webhooks"],
    )
    def get(self, request):
        return Response(schema.HealthSerializer(services.sources_health(), many=True).data)
