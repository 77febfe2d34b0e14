"""The JSON API's routes: each app contributes its viewsets here.

Every view reads through the app's selectors, so the API sees exactly what the pages see.
"""

from django.contrib.auth.decorators import login_not_required, login_required
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from deals.api import ClosureViewSet, DealViewSet
from deals.record_api import AccountViewSet, ContactViewSet
from followups.api import FollowUpViewSet
from insights.api import FiguresView, FigureView, FindingsView
from reasons.api import CompetitorViewSet, ReasonCategoryViewSet, ReasonViewSet
from surveys.api import SurveyFiguresView, SurveyFigureView, SurveyResponseViewSet
from teams.api import TokenRotateView, TokenView

router = DefaultRouter()


@csrf_exempt  # it changes nothing: a POST gets the same JSON 404, not the CSRF page
@login_not_required
def api_not_found(request, *args, **kwargs):
    """Any other /api/ address: a JSON 404 like the API's own, not the HTML error page."""
    return JsonResponse({"detail": "Not found."}, status=404)


# api: deals, closures, reasons, competitors, follow-ups register on `router` below
router.register("deals", DealViewSet, basename="deal")
router.register("closures", ClosureViewSet, basename="closure")
router.register("accounts", AccountViewSet, basename="account")
router.register("contacts", ContactViewSet, basename="contact")
router.register("follow-ups", FollowUpViewSet, basename="followup")
router.register("reasons", ReasonViewSet, basename="reason")
router.register("reason-categories", ReasonCategoryViewSet, basename="reason-category")
router.register("competitors", CompetitorViewSet, basename="competitor")
router.register("survey-responses", SurveyResponseViewSet, basename="survey-response")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        # Our own template: the stock one has an inline <style> that the CSP refuses. A page for
        # people, so an anonymous visitor goes to the sign-in page (DRF views answer 401 instead).
        login_required(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html")
        ),
        name="api-docs",
    ),
    path("token/", TokenView.as_view(), name="api-token"),
    path("token/rotate/", TokenRotateView.as_view(), name="api-token-rotate"),
    # api: figures (insights) and webhooks (crm) add their paths below
    path("figures/", FiguresView.as_view(), name="api-figures"),
    path("figures/<slug:name>/", FigureView.as_view(), name="api-figure"),
    path("findings/", FindingsView.as_view(), name="api-findings"),
    path("survey-figures/", SurveyFiguresView.as_view(), name="api-survey-figures"),
    path("survey-figures/<slug:name>/", SurveyFigureView.as_view(), name="api-survey-figure"),
    path("", include(router.urls)),
    re_path(r"^.*/$", api_not_found),  # last: after every route above (a missing slash still redirects)
]
