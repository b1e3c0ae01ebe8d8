"""Routes under /webhooks/sources/."""

from __future__ import annotations

from django.urls import path

from orders.sources import views

app_name = "sources"

urlpatterns = [
    path("shopify/", views.ShopifyWebhookView.as_view(), name="shopify"),
    path("woocommerce/", views.WooCommerceWebhookView.as_view(), name="woocommerce"),
    path("generic/", views.GenericWebhookView.as_view(), name="generic"),
    path("health/", views.SourcesHealthView.as_view(), name="health"),
]
