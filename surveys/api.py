"""Buyer feedback in the JSON API: the figures (same selectors as the page and the CSV) and the
answers, scoped to the deals the user may see."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from insights.exports import jsonable
from insights.forms import owners_visible_to, teams_visible_to
from surveys import selectors
from surveys.forms import FiguresFilterForm
from surveys.models import SurveyResponse

FILTER_PARAMETERS = [
    OpenApiParameter(
        "date_from", OpenApiTypes.DATE, description="Closes from this day (default: a year ago)."
    ),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Closes up to this day (default: today)."),
    OpenApiParameter("team", int),
    OpenApiParameter("owner", int),
    OpenApiParameter("quote_reason", int, description="Quotes whose buyer reason rolls up to this reason."),
]


def _filters(request) -> selectors.FeedbackFilters | Response:
    form = FiguresFilterForm(
        request.query_params, teams=teams_visible_to(request.user), owners=owners_visible_to(request.user)
    )
    if not form.is_valid():
        return Response({"errors": form.errors.get_json_data()}, status=400)
    return selectors.FeedbackFilters(**form.values())


class SurveyFiguresView(APIView):
    """Every buyer feedback figure for the filters (response rate, agreement matrix, by rep, by
    reason, gaps, quotes), over the deals the user may see."""

    @extend_schema(
        operation_id="survey_figures_all", parameters=FILTER_PARAMETERS, responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request):
        filters = _filters(request)
        if isinstance(filters, Response):
            return filters
        figures = {
            name: figure(user=request.user, filters=filters) for name, figure in selectors.FIGURES.items()
        }
        return Response(
            jsonable({"period": {"from": filters.date_from, "to": filters.date_to}, "figures": figures})
        )


class SurveyFigureView(APIView):
    """One buyer feedback figure (e.g. agreement-matrix) for the filters."""

    @extend_schema(
        operation_id="survey_figure_retrieve",
        parameters=[
            OpenApiParameter("name", str, OpenApiParameter.PATH, enum=list(selectors.FIGURES)),
            *FILTER_PARAMETERS,
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, name: str):
        if name not in selectors.FIGURES:
            raise Http404("No such figure.")
        filters = _filters(request)
        if isinstance(filters, Response):
            return filters
        return Response(
            jsonable({"figure": name, "data": selectors.FIGURES[name](user=request.user, filters=filters)})
        )


class SurveyResponseSerializer(serializers.ModelSerializer):
    deal = serializers.IntegerField(source="survey.deal_id", read_only=True)
    rep_reason = serializers.SlugRelatedField(
        source="survey.closure.reason", slug_field="code", read_only=True
    )
    main_reason = serializers.SlugRelatedField(slug_field="code", read_only=True)
    secondary_reasons = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    competitor = serializers.StringRelatedField(read_only=True)

    class Meta:
        model = SurveyResponse
        fields = [
            "id",
            "deal",
            "rep_reason",
            "main_reason",
            "main_reason_other",
            "secondary_reasons",
            "competitor",
            "kept_what_they_had",
            "process_rating",
            "comment",
            "may_contact_again",
            "answered_at",
        ]


class ResponseCursorPagination(CursorPagination):
    ordering = ("-answered_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema_view(
    list=extend_schema(summary="Buyers' answers you may see, newest first"),
    retrieve=extend_schema(summary="One buyer's answer"),
)
class SurveyResponseViewSet(viewsets.ReadOnlyModelViewSet):
    """The buyers' answers to the surveys of deals you may see."""

    serializer_class = SurveyResponseSerializer
    pagination_class = ResponseCursorPagination
    queryset = (
        SurveyResponse.objects.none()
    )  # names the model for the schema; get_queryset() scopes the reads

    def get_queryset(self):
        return (
            SurveyResponse.objects.filter(survey__in=selectors.surveys_visible_to(self.request.user))
            .select_related("survey__closure__reason", "main_reason", "competitor")
            .prefetch_related("secondary_reasons")
        )
