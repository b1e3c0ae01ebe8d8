"""Routes of the tracking page (included at the root: full paths here).

`/t/<token>/feed/` and `/t/<token>/devices/` are served by notifications (notifications/urls.py).
"""

from __future__ import annotations

from django.urls import path

from orders.tracking import views

app_name = "tracking"

urlpatterns = [
    path("track/", views.lookup, name="lookup"),
    path("t/<str:token>/", views.tracking_page, name="page"),
    path("t/<str:token>/status.json", views.tracking_json, name="json"),
    path("t/<str:token>/delivery/", views.delivery_change, name="delivery"),
    path("t/<str:token>/feedback/", views.feedback, name="feedback"),
    path("t/<str:token>/proof/<str:tracking_id>/<str:kind>/", views.proof_file, name="proof"),
]
