"""Routes of notifications (included at the root: full paths here)."""

from __future__ import annotations

from django.urls import path

from notifications import api, channel_views, views

app_name = "notifications"

urlpatterns = [
    path("webhooks/providers/twilio/status/", views.twilio_status, name="twilio-status"),
    path("webhooks/providers/twilio/inbound/", views.twilio_inbound, name="twilio-inbound"),
    path("webhooks/providers/sendgrid/events/", views.sendgrid_events, name="sendgrid-events"),
    # Issue 6: receipts of the WhatsApp Cloud API, Mailgun and MessageBird.
    path("webhooks/providers/whatsapp/", channel_views.whatsapp, name="whatsapp-webhook"),
    path("webhooks/providers/mailgun/events/", channel_views.mailgun_events, name="mailgun-events"),
    path("webhooks/providers/messagebird/status/", channel_views.messagebird_status, name="messagebird-status"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path("preferences/<str:token>/unsubscribe/", views.unsubscribe, name="unsubscribe"),
    path("outbox/", views.outbox, name="outbox"),
    path(
        "api/v1/orders/<str:number>/notifications/",
        api.OrderNotificationsView.as_view(),
        name="api-order-notifications",
    ),
    path("api/v1/orders/<str:number>/devices/", api.OrderDeviceView.as_view(), name="api-order-devices"),
    path("api/v1/orders/<str:number>/feed/", api.OrderFeedView.as_view(), name="api-order-feed"),
    path("t/<str:token>/devices/", api.tracking_device, name="tracking-devices"),
    path("t/<str:token>/feed/", api.TrackingFeedView.as_view(), name="tracking-feed"),
    path("t/<str:token>/feed/<uuid:public_id>/read/", api.TrackingFeedReadView.as_view(), name="tracking-feed-read"),
]

# Signed outbound webhooks: subscribe endpoints, rotate secrets, replay (notifications/outbound_api.py).
from notifications.outbound_api import urlpatterns as _outbound_urls  # noqa: E402

urlpatterns += _outbound_urls
