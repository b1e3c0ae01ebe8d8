"""Admin: the notification failures page (grouped by cause), listed on the admin index."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from operations.failures import failures_by_cause
from operations.models import NotificationFailure

PERIODS = {"1": "last 24 hours", "7": "last 7 days", "30": "last 30 days"}


@admin.register(NotificationFailure)
class NotificationFailureAdmin(admin.ModelAdmin):
    """Read-only: whoever may read the notification log may read its failures."""

    def has_view_permission(self, request, obj=None) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and user.has_perm("notifications.view_notification"))

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        # Only the grouped page: the rows themselves are read in the notification log.
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        days = request.GET.get("days", "7")
        days = days if days in PERIODS else "7"
        since = timezone.now() - timedelta(days=int(days))
        context = {
            **self.admin_site.each_context(request),
            "title": "Notification failures by cause",
            "opts": self.model._meta,
            "causes": failures_by_cause(since=since),
            "since": since,
            "days": days,
            "periods": PERIODS,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/operations/failures.html", context)
