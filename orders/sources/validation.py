"""Validation rules per source and account, on top of the REST API's own serializer.

Every order that comes in (Shopify, WooCommerce, generic) first passes the same serializer as
POST /api/v1/orders/; the rules here are what a channel or account adds (a phone for a courier
that calls, a currency list, a SKU allow-list). A rule in dry run only reports.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation

from django.db.models import Q

from orders.sources.models import SourceAccount, ValidationRule

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    rule: str
    kind: str
    field: str
    message: str
    dry_run: bool

    def as_dict(self) -> dict:
        return asdict(self)


def rules_for(*, source: str, account: SourceAccount | None) -> list[ValidationRule]:
    scope = Q(source="") | Q(source=source)
    accounts = Q(account__isnull=True) | (Q(account=account) if account is not None else Q(pk__in=[]))
    return list(ValidationRule.objects.filter(scope & accounts, enabled=True).order_by("pk"))


def _value(data: dict, path: str):
    node = data
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _check(rule: ValidationRule, data: dict) -> list[tuple[str, str]]:
    """(field, message) for each way the order breaks the rule."""
    params = rule.params or {}
    kind = rule.kind
    address = data.get("shipping_address") or {}
    if kind == ValidationRule.Kind.REQUIRED_FIELDS:
        return [(f, "required") for f in params.get("fields", []) if _value(data, f) in (None, "", [], {})]
    if kind == ValidationRule.Kind.ADDRESS:
        needed = params.get("fields") or ["line1", "city", "postcode", "country"]
        return [(f"shipping_address.{f}", "required for delivery") for f in needed if not address.get(f)]
    if kind == ValidationRule.Kind.PHONE:
        # Adapters keep only valid numbers (E.164), so an empty phone means none or not a valid one.
        phone = (data.get("customer") or {}).get("phone")
        return [] if phone else [("customer.phone", "no valid phone number")]
    if kind == ValidationRule.Kind.CURRENCY:
        allowed = {str(c).upper() for c in params.get("allowed", [])}
        currency = str(data.get("currency") or "").upper()
        return [] if not allowed or currency in allowed else [("currency", f"{currency} is not accepted")]
    if kind == ValidationRule.Kind.COUNTRY:
        allowed = {str(c).upper() for c in params.get("allowed", [])}
        country = str(address.get("country") or "").upper()
        return [] if not allowed or country in allowed else [("shipping_address.country", f"no delivery to {country}")]
    if kind == ValidationRule.Kind.SKU_ALLOWLIST:
        skus = {str(s) for s in params.get("skus", [])}
        prefixes = tuple(str(p) for p in params.get("prefixes", []))
        unknown = [
            str(line.get("sku"))
            for line in data.get("lines") or []
            if str(line.get("sku")) not in skus and not (prefixes and str(line.get("sku")).startswith(prefixes))
        ]
        return [("lines", f"SKU {sku} is not on the allow-list") for sku in unknown]
    if kind == ValidationRule.Kind.MAX_VALUE:
        try:
            limit = Decimal(str(params.get("amount")))
            total = Decimal(str(data.get("total") or "0"))
        except (InvalidOperation, ValueError):
            return []
        return [("total", f"{total} is over {limit}")] if total > limit else []
    return []


def evaluate(*, rules: list[ValidationRule], data: dict) -> list[Finding]:
    findings: list[Finding] = []
    for rule in rules:
        for field, message in _check(rule, data):
            findings.append(Finding(rule=rule.name, kind=rule.kind, field=field, message=message, dry_run=rule.dry_run))
    return findings


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.dry_run]


def api_refusals(*, data: dict) -> dict[str, list[str]]:
    """For POST /api/v1/orders/: the enforced rules of source "api" (and of every source) as a 400's
    fields; dry-run findings are only logged. The same rules as the channels, synchronously."""
    found = evaluate(rules=rules_for(source="api", account=None), data=data)
    if found:
        logger.info("api order validation findings", extra={"findings": [f.as_dict() for f in found]})
    refusals: dict[str, list[str]] = {}
    for finding in blocking(found):
        refusals.setdefault(finding.field, []).append(f"{finding.message} ({finding.rule})")
    return refusals
