"""The reason taxonomy in the JSON API: every signed-in user reads it (CRMs map onto its codes)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from reasons.models import Competitor, Reason, ReasonCategory, ReasonKind
from reasons.serializers import CompetitorSerializer, ReasonCategorySerializer, ReasonSerializer


class ReasonFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReasonKind.choices, required=False)
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
    category = serializers.SlugField(required=False, max_length=50, help_text="Category code.")


class ActiveFilterSerializer(serializers.Serializer):
    active = serializers.BooleanField(required=False, allow_null=True, default=None)


def _query_params(serializer_class, request) -> dict:
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


@extend_schema_view(
    list=extend_schema(parameters=[ReasonFilterSerializer], summary="Reasons, retired ones included"),
    retrieve=extend_schema(summary="One reason"),
)
class ReasonViewSet(viewsets.ReadOnlyModelViewSet):
    """Standard reasons with their stable `code`, kind, category, `active` flag and rules.

    A retired reason stays here (old closures point to it); a merged one names its survivor.
    """

    queryset = Reason.objects.none()  # names the model for the schema; get_queryset() filters
    serializer_class = ReasonSerializer
    pagination_class = None  # the whole taxonomy is a few dozen rows

    def get_queryset(self):
        qs = Reason.objects.select_related("category")
        if self.action == "list":
            data = _query_params(ReasonFilterSerializer, self.request)
            if data.get("kind"):
                qs = qs.filter(kind=data["kind"])
            if data.get("active") is not None:
                qs = qs.filter(active=data["active"])
            if data.get("category"):
                qs = qs.filter(category__code=data["category"])
        return qs


@extend_schema_view(
    list=extend_schema(summary="Reason categories"), retrieve=extend_schema(summary="One category")
)
class ReasonCategoryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ReasonCategorySerializer
    pagination_class = None
    queryset = ReasonCategory.objects.all()


@extend_schema_view(
    list=extend_schema(parameters=[ActiveFilterSerializer], summary="Competitors"),
    retrieve=extend_schema(summary="One competitor"),
)
class CompetitorViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Competitor.objects.none()  # names the model for the schema; get_queryset() filters
    serializer_class = CompetitorSerializer
    pagination_class = None

    def get_queryset(self):
        qs = Competitor.objects.all()
        if self.action == "list":
            data = _query_params(ActiveFilterSerializer, self.request)
            if data.get("active") is not None:
                qs = qs.filter(active=data["active"])
        return qs
