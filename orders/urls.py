"""Routes of the orders app: the REST API under /api/v1/ (other orders pages add theirs below)."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from orders.api.views import OrderViewSet

api_v1 = SimpleRouter()
api_v1.register("orders", OrderViewSet, basename="api-order")

urlpatterns = [
    # Named api-order-list, api-order-detail, api-order-transitions, api-order-shipments.
    path("api/v1/", include(api_v1.urls)),
]
