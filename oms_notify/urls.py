from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("operations.urls")),
    path("admin/kpis/", include("kpis.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("webhooks/carriers/", include("carriers.urls")),
    path("webhooks/sources/", include("orders.sources.urls")),
    path("", include("orders.tracking.urls")),
    path("", include("notifications.urls")),
    path("", include("privacy.urls")),
    path("", include("orders.urls")),
]

# API and webhook clients get a 404 in the API's error shape, not an HTML page (orders/api/errors.py).
handler404 = "orders.api.errors.not_found"
