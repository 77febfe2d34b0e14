"""The JSON API's routes: each app contributes its viewsets here.

Every view reads through the app's selectors, so the API sees exactly what the pages see.
"""

from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from deals.api import ClosureViewSet, DealViewSet
from insights.api import FigureView, FiguresView
from reasons.api import CompetitorViewSet, ReasonCategoryViewSet, ReasonViewSet
from teams.api import TokenRotateView, TokenView

router = DefaultRouter()
# api: deals, closures, reasons, competitors, follow-ups register on `router` below
router.register("deals", DealViewSet, basename="deal")
router.register("closures", ClosureViewSet, basename="closure")
router.register("reasons", ReasonViewSet, basename="reason")
router.register("reason-categories", ReasonCategoryViewSet, basename="reason-category")
router.register("competitors", CompetitorViewSet, basename="competitor")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        # Our own template: the stock one has an inline <style> that the CSP refuses.
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    path("token/", TokenView.as_view(), name="api-token"),
    path("token/rotate/", TokenRotateView.as_view(), name="api-token-rotate"),
    # api: figures (insights) and webhooks (crm) add their paths below
    path("figures/", FiguresView.as_view(), name="api-figures"),
    path("figures/<slug:name>/", FigureView.as_view(), name="api-figure"),
    path("", include(router.urls)),
]


def _let_drf_authenticate(patterns) -> None:
    """DRF views authenticate by token or session and answer 401 themselves.

    LoginRequiredMiddleware would otherwise redirect every token request to the sign-in page
    (it runs before DRF reads the token). The HTML docs page keeps the redirect.
    """
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _let_drf_authenticate(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            view_class = getattr(pattern.callback, "cls", None)
            if view_class is not None and not issubclass(view_class, SpectacularSwaggerSplitView):
                pattern.callback.login_required = False


_let_drf_authenticate(urlpatterns)
