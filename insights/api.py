"""The dashboard's figures in the JSON API: the same selectors as the page and the CSV."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from insights.comparison import COMPARE_MODES, Comparison, figures_compared
from insights.exports import jsonable
from insights.findings import dashboard_findings
from insights.forms import PERIODS, DashboardFilterForm
from insights.selectors import FIGURES, Dashboard

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
    OpenApiParameter(
        "compare",
        str,
        enum=[key for key, _label in COMPARE_MODES],
        description="The comparison period: previous (of equal length, the default), year (a year "
        "earlier) or custom (compare_from, compare_to). Each figure carries `compare` and `change`.",
    ),
    OpenApiParameter("compare_from", OpenApiTypes.DATE, description="First day (with compare=custom)."),
    OpenApiParameter("compare_to", OpenApiTypes.DATE, description="Last day (with compare=custom)."),
]


class _FiguresBase(APIView):
    def dashboard(self, request) -> tuple[Dashboard, Comparison] | Response:
        form = DashboardFilterForm(request.query_params, user=request.user)
        if not form.is_valid():
            return Response({"errors": form.errors.get_json_data()}, status=400)
        return Dashboard(user=request.user, filters=form.dashboard_filters()), form.comparison()

    @staticmethod
    def period(dashboard: Dashboard) -> dict:
        return {"from": dashboard.filters.date_from, "to": dashboard.filters.date_to}

    @staticmethod
    def compare(comparison: Comparison) -> dict:
        return {"mode": comparison.mode, "from": comparison.date_from, "to": comparison.date_to}


class FiguresView(_FiguresBase):
    """Every dashboard figure for the filters, over the deals the user may see."""

    @extend_schema(
        operation_id="figures_all", parameters=FILTER_PARAMETERS, responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request):
        chosen = self.dashboard(request)
        if isinstance(chosen, Response):
            return chosen
        dashboard, comparison = chosen
        body = {
            "period": self.period(dashboard),
            "compare": self.compare(comparison),
            "figures": figures_compared(dashboard, comparison),
        }
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
        chosen = self.dashboard(request)
        if isinstance(chosen, Response):
            return chosen
        dashboard, comparison = chosen
        body = {
            "period": self.period(dashboard),
            "compare": self.compare(comparison),
            "figure": name,
            "data": figures_compared(dashboard, comparison, [name])[name],
        }
        return Response(jsonable(body))


class FindingsView(_FiguresBase):
    """What changed against the comparison period, tested (insights.findings): the significant
    changes, largest effect first, each with its numbers, p and q values and both periods' deals."""

    @extend_schema(
        operation_id="findings_list", parameters=FILTER_PARAMETERS, responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request):
        chosen = self.dashboard(request)
        if isinstance(chosen, Response):
            return chosen
        dashboard, comparison = chosen
        body = {"period": self.period(dashboard), "compare": self.compare(comparison)}
        body |= dashboard_findings(dashboard, comparison)
        return Response(jsonable(body))
