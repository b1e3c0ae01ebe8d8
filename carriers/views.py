"""POST /webhooks/carriers/<carrier>/[<account>/]: verify, store, parse, then apply (or queue).

Thin on purpose: no DRF authentication, throttling or parsers touch the body; the adapter proves
who sent it and the raw bytes are stored before parsing, so nothing verified is ever lost.
"""

from __future__ import annotations

import logging

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from carriers import services, tasks
from carriers.adapters import ParseError, VerificationError, get_adapter, parse_payload
from carriers.models import RawWebhook
from carriers.schema import GENERIC_EXAMPLE, WEBHOOK_HEADERS, WEBHOOK_RESPONSES, GenericPayloadSerializer
from orders.api.errors import error_response

logger = logging.getLogger(__name__)
security_log = logging.getLogger("oms_notify.security")

TOO_LARGE = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
_LATER = {RawWebhook.Status.PENDING, RawWebhook.Status.FAILED, RawWebhook.Status.RECEIVED, "busy"}


class CarrierWebhookView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes: list = []

    @extend_schema(
        operation_id="carrier_webhook",
        summary="Carrier tracking webhook",
        description=(
            "One endpoint per carrier: easypost, shippo, aftership, ups, fedex (their own formats and "
            "signatures) and generic (the format below, signed with Standard Webhooks headers). "
            "Add /<account>/ to accept only that account's secrets."
        ),
        # No parsers run on this view (the adapter reads raw bytes), so name the media type.
        request={"application/json": GenericPayloadSerializer},
        parameters=WEBHOOK_HEADERS,
        responses=WEBHOOK_RESPONSES,
        examples=[GENERIC_EXAMPLE],
        tags=["webhooks"],
    )
    def post(self, request, carrier: str, account: str = ""):
        limit = settings.CARRIER_WEBHOOK_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return self._reject(
                request, carrier, account, declared, "too_large", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
            )
        body = request.body
        if len(body) > limit:
            return self._reject(
                request, carrier, account, len(body), "too_large", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
            )
        adapter = get_adapter(carrier)
        if adapter is None:
            return error_response("unknown_carrier", f"No adapter for {carrier!r}.", status.HTTP_404_NOT_FOUND)
        try:
            account_obj, secrets = services.webhook_secrets(carrier=carrier, account_slug=account)
            adapter.verify(request, secrets)
        except services.UnknownAccount:
            return self._reject(request, carrier, account, len(body), "unknown_account")
        except VerificationError as exc:
            return self._reject(request, carrier, account, len(body), exc.reason)

        raw = services.raw_webhook_store(
            carrier=carrier,
            account=account_obj,
            body=body,
            headers=dict(request.headers),
            source_address=request.META.get("REMOTE_ADDR") or None,
        )
        try:
            events = parse_payload(adapter, body)
        except ParseError as exc:
            services.raw_webhook_fail(raw=raw, error=f"parse error: {exc}")
            return error_response("unparseable", str(exc)[:500], status.HTTP_400_BAD_REQUEST, id=raw.pk)

        if settings.CARRIER_PROCESS_INLINE:
            try:
                outcome = services.raw_webhook_process(raw_id=raw.pk, events=events)
            except Exception:  # stored and verified: the sweeper retries it, the carrier need not
                logger.exception("carrier webhook processing failed", extra={"raw_id": raw.pk, "carrier": carrier})
                return Response({"status": "queued", "id": raw.pk}, status=status.HTTP_202_ACCEPTED)
            code = status.HTTP_202_ACCEPTED if outcome.status in _LATER else status.HTTP_200_OK
            return Response({"status": outcome.status, "id": raw.pk}, status=code)
        try:
            tasks.process_raw_webhook.delay(raw.pk)
        except Exception:  # broker down: the row is safe, the sweeper picks it up
            logger.exception("could not enqueue carrier webhook", extra={"raw_id": raw.pk, "carrier": carrier})
        return Response({"status": "queued", "id": raw.pk}, status=status.HTTP_202_ACCEPTED)

    def _reject(self, request, carrier: str, account: str, size: int, reason: str, code: int = 401) -> Response:
        # Never the body, never the headers: they may carry the credential.
        security_log.warning(
            "carrier webhook rejected",
            extra={
                "carrier": carrier,
                "account": account,
                "source_address": request.META.get("REMOTE_ADDR", ""),
                "size": size,
                "reason": reason,
            },
        )
        detail = "Body over the size limit." if code == 413 else "The request does not prove who sent it."
        return error_response(reason, detail, code)


@extend_schema_view(post=extend_schema(operation_id="carrier_account_webhook"))
class CarrierAccountWebhookView(CarrierWebhookView):
    """The same endpoint scoped to one CarrierAccount (only that account's secrets)."""
