"""/admin/kpis/ (included before the admin): every view is staff-only through admin_view."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from kpis import views

app_name = "kpis"

urlpatterns = [
    path("", admin.site.admin_view(views.dashboard), name="dashboard"),
    path("definitions/", admin.site.admin_view(views.definitions), name="definitions"),
    path("refresh/", admin.site.admin_view(views.refresh), name="refresh"),
]
