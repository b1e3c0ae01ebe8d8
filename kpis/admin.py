"""The dashboard's entry on the admin index: the "KPI dashboard" row opens the dashboard itself."""

from __future__ import annotations

from django.contrib import admin
from django.shortcuts import redirect

from kpis.models import RefreshState


@admin.register(RefreshState)
class KpiDashboardAdmin(admin.ModelAdmin):
    # Every staff member may read the figures; nothing here can be added, changed or deleted.
    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        return redirect("kpis:dashboard")
