"""The project's URLs plus /bench/bare/: a DRF view that only returns 200 (the benchmark's floor)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from oms_notify.urls import urlpatterns as project_urlpatterns


class BareView(APIView):
    # Same DRF configuration as the carrier webhook view: no authentication, throttling or parsers.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes: list = []

    def post(self, request):
        return Response({"status": "ok"})

    # The floor for pages read over HTTP too (bench/tracking_page.py --http).
    def get(self, request):
        return Response({"status": "ok"})


urlpatterns = [path("bench/bare/", BareView.as_view()), *project_urlpatterns]
