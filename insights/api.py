"""The dashboard's figures in the JSON API: the same selectors as the page and the CSV."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from insights.exports import jsonable
from insights.forms import PERIODS, DashboardFilterForm
from insights.selectors import FIGURES, Dashboard, dashboard_figures

FILTER_PARAMETERS = [
    OpenApiParameter("period", str, enum=[key for key, _label in PERIODS], description="A preset period."),
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (with period=custom)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (with period=custom)."),
    OpenApiParameter("pipeline", int),
    OpenApiParameter("team", int),
    OpenApiParameter("owner", int),
    OpenApiParameter("industry", str),
    OpenApiParameter("size", str),
    OpenApiParameter("competitor", int),
]


class _FiguresBase(APIView):
    def dashboard(self, request) -> Dashboard | Response:
        form = DashboardFilterForm(request.query_params, user=request.user)
        if not form.is_valid():
            return Response({"errors": form.errors.get_json_data()}, status=400)
        return Dashboard(user=request.user, filters=form.dashboard_filters())

    @staticmethod
    def period(dashboard: Dashboard) -> dict:
        return {"from": dashboard.filters.date_from, "to": dashboard.filters.date_to}


class FiguresView(_FiguresBase):
    """Every dashboard figure for the filters, over the deals the user may see."""

    @extend_schema(
        operation_id="figures_all", parameters=FILTER_PARAMETERS, responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request):
        dashboard = self.dashboard(request)
        if isinstance(dashboard, Response):
            return dashboard
        body = {"period": self.period(dashboard), "figures": dashboard_figures(dashboard)}
        return Response(jsonable(body))


class FigureView(_FiguresBase):
    """One dashboard figure (e.g. loss-by-reason) for the filters."""

    @extend_schema(
        operation_id="figure_retrieve",
        parameters=[
            OpenApiParameter(
                "name", str, OpenApiParameter.PATH, enum=list(FIGURES), description="The figure."
            ),
            *FILTER_PARAMETERS,
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, name: str):
        if name not in FIGURES:
            raise Http404("No such figure.")
        dashboard = self.dashboard(request)
        if isinstance(dashboard, Response):
            return dashboard
        body = {"period": self.period(dashboard), "figure": name, "data": FIGURES[name](dashboard)}
        return Response(jsonable(body))
