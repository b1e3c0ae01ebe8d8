from __future__ import annotations

from django.urls import path

from carriers.views import CarrierAccountWebhookView, CarrierWebhookView

app_name = "carriers"

urlpatterns = [
    path("<slug:carrier>/", CarrierWebhookView.as_view(), name="webhook"),
    path("<slug:carrier>/<slug:account>/", CarrierAccountWebhookView.as_view(), name="account-webhook"),
]
