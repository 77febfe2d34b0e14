"""The reason taxonomy in the JSON API.

Every signed-in user reads it (CRMs map onto its stable codes); only admins (RevOps) change it,
and only through reasons.services, which check the rules and record every change.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from closedlost.api_errors import ERROR, FIELD_ERRORS
from reasons import services
from reasons.models import Competitor, Reason, ReasonCategory, ReasonKind
from reasons.serializers import (
    CompetitorMergeSerializer,
    CompetitorSerializer,
    CompetitorWriteSerializer,
    ReasonCategorySerializer,
    ReasonCreateSerializer,
    ReasonMergeSerializer,
    ReasonSerializer,
    ReasonWriteSerializer,
)


class IsRevOpsAdminOrReadOnly(BasePermission):
    message = "Only admins (RevOps) may change the reason taxonomy."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or user.is_revops_admin


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


def _payload(serializer_class, request, *, partial: bool = False) -> dict:
    payload = serializer_class(data=request.data, partial=partial)
    payload.is_valid(raise_exception=True)
    return payload.validated_data


WRITE_RESPONSES = {400: FIELD_ERRORS, 403: ERROR, 404: ERROR, 409: ERROR}


@extend_schema_view(
    list=extend_schema(
        parameters=[ReasonFilterSerializer],
        summary="Reasons, retired ones included",
        responses={200: ReasonSerializer(many=True), 400: FIELD_ERRORS},
    ),
    retrieve=extend_schema(summary="One reason", responses={200: ReasonSerializer, 404: ERROR}),
    create=extend_schema(
        summary="Create a reason (admins)",
        request=ReasonCreateSerializer,
        responses={201: ReasonSerializer, **WRITE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Edit a reason (admins)",
        request=ReasonWriteSerializer,
        responses={200: ReasonSerializer, **WRITE_RESPONSES},
    ),
)
class ReasonViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Standard reasons with their stable `code`, kind, category, `active` flag and rules.

    A retired reason stays here (old closures point to it); a merged one names its survivor.
    Reasons are never deleted: retire or merge them.
    """

    queryset = Reason.objects.none()  # names the model for the schema; get_queryset() filters
    serializer_class = ReasonSerializer
    permission_classes = [IsRevOpsAdminOrReadOnly]
    pagination_class = None  # the whole taxonomy is a few dozen rows
    http_method_names = ["get", "post", "patch", "head", "options"]

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

    def _answer(self, reason: Reason, code: int = status.HTTP_200_OK) -> Response:
        fresh = Reason.objects.select_related("category").get(pk=reason.pk)
        return Response(ReasonSerializer(fresh).data, status=code)

    def create(self, request, *args, **kwargs):
        data = _payload(ReasonCreateSerializer, request)
        kind = data.pop("kind")
        reason = services.reason_create(actor=request.user, kind=kind, data=services.ReasonData(**data))
        return self._answer(reason, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        reason = self.get_object()
        changes = _payload(ReasonWriteSerializer, request, partial=True)
        current = {
            "category": reason.category,
            "code": reason.code,
            "label": reason.label,
            "help_text": reason.help_text,
            "example": reason.example,
            "requires_competitor": reason.requires_competitor,
            "requires_note": reason.requires_note,
            "reopen_after_days": reason.reopen_after_days,
        }
        data = services.ReasonData(**{**current, **changes})
        services.reason_update(actor=request.user, reason=reason, data=data)
        return self._answer(reason)

    @extend_schema(
        summary="Retire a reason (admins)", request=None, responses={200: ReasonSerializer, **WRITE_RESPONSES}
    )
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None, format=None):
        reason = self.get_object()
        services.reason_retire(actor=request.user, reason=reason)
        return self._answer(reason)

    @extend_schema(
        summary="Offer a retired reason again (admins)",
        request=None,
        responses={200: ReasonSerializer, **WRITE_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None, format=None):
        reason = self.get_object()
        services.reason_restore(actor=request.user, reason=reason)
        return self._answer(reason)

    @extend_schema(
        summary="Merge a reason into another (admins)",
        request=ReasonMergeSerializer,
        responses={200: ReasonSerializer, **WRITE_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None, format=None):
        reason = self.get_object()
        into = _payload(ReasonMergeSerializer, request)["into"]
        services.reason_merge(actor=request.user, reason=reason, into=into)
        return self._answer(reason)

    @extend_schema(
        summary="Undo a reason's merge (admins)",
        request=None,
        responses={200: ReasonSerializer, **WRITE_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def unmerge(self, request, pk=None, format=None):
        reason = self.get_object()
        services.reason_unmerge(actor=request.user, reason=reason)
        return self._answer(reason)


@extend_schema_view(
    list=extend_schema(summary="Reason categories"), retrieve=extend_schema(summary="One category")
)
class ReasonCategoryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ReasonCategorySerializer
    pagination_class = None
    queryset = ReasonCategory.objects.all()


@extend_schema_view(
    list=extend_schema(
        parameters=[ActiveFilterSerializer],
        summary="Competitors",
        responses={200: CompetitorSerializer(many=True), 400: FIELD_ERRORS},
    ),
    retrieve=extend_schema(summary="One competitor", responses={200: CompetitorSerializer, 404: ERROR}),
    create=extend_schema(
        summary="Add a competitor (admins)",
        request=CompetitorWriteSerializer,
        responses={201: CompetitorSerializer, **WRITE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Rename a competitor or change its aliases (admins)",
        request=CompetitorWriteSerializer,
        responses={200: CompetitorSerializer, **WRITE_RESPONSES},
    ),
)
class CompetitorViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Competitors, with the aliases that map CRM free text onto them. Never deleted: retire or merge."""

    queryset = Competitor.objects.none()  # names the model for the schema; get_queryset() filters
    serializer_class = CompetitorSerializer
    permission_classes = [IsRevOpsAdminOrReadOnly]
    pagination_class = None
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        qs = Competitor.objects.all()
        if self.action == "list":
            data = _query_params(ActiveFilterSerializer, self.request)
            if data.get("active") is not None:
                qs = qs.filter(active=data["active"])
        return qs

    def _answer(self, competitor: Competitor, code: int = status.HTTP_200_OK) -> Response:
        return Response(CompetitorSerializer(Competitor.objects.get(pk=competitor.pk)).data, status=code)

    def create(self, request, *args, **kwargs):
        data = services.CompetitorData(**_payload(CompetitorWriteSerializer, request))
        competitor = services.competitor_create(actor=request.user, data=data)
        return self._answer(competitor, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        competitor = self.get_object()
        changes = _payload(CompetitorWriteSerializer, request, partial=True)
        current = {"name": competitor.name, "aliases": list(competitor.aliases)}
        data = services.CompetitorData(**{**current, **changes})
        services.competitor_update(actor=request.user, competitor=competitor, data=data)
        return self._answer(competitor)

    @extend_schema(
        summary="Retire a competitor (admins)",
        request=None,
        responses={200: CompetitorSerializer, **WRITE_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None, format=None):
        competitor = self.get_object()
        services.competitor_retire(actor=request.user, competitor=competitor)
        return self._answer(competitor)

    @extend_schema(
        summary="Offer a retired competitor again (admins)",
        request=None,
        responses={200: CompetitorSerializer, **WRITE_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None, format=None):
        competitor = self.get_object()
        services.competitor_restore(actor=request.user, competitor=competitor)
        return self._answer(competitor)

    @extend_schema(
        summary="Merge a competitor into another (admins)",
        request=CompetitorMergeSerializer,
        responses={200: CompetitorSerializer, **WRITE_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None, format=None):
        competitor = self.get_object()
        into = _payload(CompetitorMergeSerializer, request)["into"]
        services.competitor_merge(actor=request.user, competitor=competitor, into=into)
        return self._answer(competitor)

    @extend_schema(
        summary="Undo a competitor's merge (admins)",
        request=None,
        responses={200: CompetitorSerializer, **WRITE_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def unmerge(self, request, pk=None, format=None):
        competitor = self.get_object()
        services.competitor_unmerge(actor=request.user, competitor=competitor)
        return self._answer(competitor)
