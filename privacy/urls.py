"""Privacy routes (included at the site root before orders.urls, so the API paths are spelt out)."""

from __future__ import annotations

from django.urls import path

from privacy import api

app_name = "privacy"

urlpatterns = [
    path("api/v1/customers/lookup/", api.CustomerLookupView.as_view(), name="customer-lookup"),
    path("api/v1/customers/<int:pk>/export/", api.CustomerExportView.as_view(), name="customer-export"),
    path("api/v1/customers/<int:pk>/erase/", api.CustomerEraseView.as_view(), name="customer-erase"),
]
