"""The JSON API's routes: each app contributes its viewsets here.

Every view reads through the app's selectors, so the API sees exactly what the pages see.
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

router = DefaultRouter()
# api: deals, closures, reasons, competitors, follow-ups register on `router` below

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # api: figures (insights) and webhooks (crm) add their paths below
    path("", include(router.urls)),
]
