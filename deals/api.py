"""Deals and closures in the JSON API.

Every read goes through deals.selectors (another team's deal is a 404, as on the pages) and
every close or reopen through deals.services, so the API keeps exactly the rules the pages keep.
"""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from closedlost.api_errors import ERROR, FIELD_ERRORS
from deals import services
from deals.models import Closure, Deal, DealContact, DealStatus
from deals.record_api import deal_upsert_answer
from deals.record_serializers import DealWriteSerializer
from deals.selectors import DealFilters, closures_visible_to, deals_filtered, deals_visible_to
from deals.serializers import (
    CloseLostSerializer,
    CloseWithNurtureSerializer,
    CloseWonSerializer,
    ClosureFilterSerializer,
    ClosureSerializer,
    CrmLinkSerializer,
    DealDetailSerializer,
    DealFilterSerializer,
    DealSerializer,
    ReopenSerializer,
)
from deals.signals import opted_out

CLOSURE_RELATED = ("reason", "competitor", "actor", "reopened_by", "stage_at_close")
DEAL_RELATED = ("account", "owner", "team", "pipeline", "stage", "close_reason")


class DealCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class ClosureCursorPagination(CursorPagination):
    ordering = ("-closed_at", "-id")
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


def _query_params(serializer_class, request) -> dict:
    """Validated query parameters; a bad one is a 400 naming it."""
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


def _closure_for_answer(closure: Closure) -> Closure:
    return (
        Closure.objects.select_related(*CLOSURE_RELATED)
        .prefetch_related("secondary_reasons")
        .get(pk=closure.pk)
    )


@extend_schema_view(
    list=extend_schema(
        parameters=[DealFilterSerializer],
        summary="Deals you may see, newest first",
        responses={200: DealSerializer(many=True), 400: FIELD_ERRORS, 404: ERROR},
    ),
    retrieve=extend_schema(
        summary="One deal with its closures", responses={200: DealDetailSerializer, 404: ERROR}
    ),
)
class DealViewSet(viewsets.ReadOnlyModelViewSet):
    """Deals: reps see their own, managers their teams', admins all. A team's own integration
    creates and updates them (with their company and buyers) by its external id."""

    queryset = Deal.objects.none()  # names the model for the schema; get_queryset() scopes the reads
    pagination_class = DealCursorPagination

    def get_queryset(self):
        user = self.request.user
        if self.action == "list":
            data = _query_params(DealFilterSerializer, self.request)
            filters = DealFilters(
                status=data.get("status", ""),
                stage=data.get("stage"),
                owner=data.get("owner"),
                pipeline=data.get("pipeline"),
                closed_from=data.get("closed_from"),
                closed_to=data.get("closed_to"),
                q=data.get("q", "").strip(),
                team=data.get("team"),
                needs_reason=data.get("needs_reason", False),
            )
            return deals_filtered(user=user, filters=filters).select_related(*DEAL_RELATED)
        return (
            deals_visible_to(user)
            .select_related(*DEAL_RELATED)
            .prefetch_related(
                Prefetch("contact_links", queryset=DealContact.objects.select_related("contact")),
                Prefetch(
                    "closures",
                    queryset=Closure.objects.select_related(*CLOSURE_RELATED).prefetch_related(
                        "secondary_reasons"
                    ),
                ),
            )
        )

    def get_serializer_class(self):
        return DealSerializer if self.action == "list" else DealDetailSerializer

    def _close(self, request, outcome: str, serializer_class):
        deal = self.get_object()
        payload = serializer_class(data=request.data)
        payload.is_valid(raise_exception=True)
        self.error_fields = payload.fields  # a refusal naming another field is a non-field error
        closure = CLOSE_SERVICES[outcome](
            deal=deal,
            actor=request.user,
            **payload.validated_data,
        )
        return Response(ClosureSerializer(_closure_for_answer(closure)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Mark the deal lost",
        request=CloseWithNurtureSerializer,
        responses={201: ClosureSerializer, 400: FIELD_ERRORS, 404: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["post"], url_path="mark-lost")
    def mark_lost(self, request, pk=None, format=None):
        return self._close(request, DealStatus.LOST, CloseWithNurtureSerializer)

    @extend_schema(
        summary="Mark the deal won",
        request=CloseWonSerializer,
        responses={201: ClosureSerializer, 400: FIELD_ERRORS, 404: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["post"], url_path="mark-won")
    def mark_won(self, request, pk=None, format=None):
        return self._close(request, DealStatus.WON, CloseWonSerializer)

    @extend_schema(
        summary="Mark the deal No decision",
        request=CloseWithNurtureSerializer,
        responses={201: ClosureSerializer, 400: FIELD_ERRORS, 404: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["post"], url_path="mark-no-decision")
    def mark_no_decision(self, request, pk=None, format=None):
        return self._close(request, DealStatus.NO_DECISION, CloseWithNurtureSerializer)

    @extend_schema(
        summary="Give the standard reason to a deal a CRM closed lost without one",
        request=CloseLostSerializer,
        responses={200: ClosureSerializer, 400: FIELD_ERRORS, 404: ERROR},
    )
    @action(detail=True, methods=["post"], url_path="give-reason")
    def give_reason(self, request, pk=None, format=None):
        deal = self.get_object()
        payload = CloseLostSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        self.error_fields = payload.fields
        closure = services.deal_give_reason(
            deal=deal,
            actor=request.user,
            **payload.validated_data,
        )
        return Response(ClosureSerializer(_closure_for_answer(closure)).data)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.action != "list":  # who will not be written to, for the deal's buyers
            context["opted_out_lookup"] = opted_out
        return context

    def _detail_answer(self, deal: Deal, *, code: int = status.HTTP_200_OK) -> Response:
        self.kwargs[self.lookup_field] = deal.pk
        return Response(
            DealDetailSerializer(self.get_object(), context=self.get_serializer_context()).data, status=code
        )

    @extend_schema(
        summary="Create or update a deal by its external id, with its company and buyers",
        request=DealWriteSerializer,
        responses={200: DealDetailSerializer, 201: DealDetailSerializer, 400: FIELD_ERRORS, 404: ERROR},
    )
    def create(self, request, format=None):
        self.error_fields = DealWriteSerializer().fields
        deal, created = deal_upsert_answer(request, deal=None)
        return self._detail_answer(deal, code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Change a deal (its details, stage, owner, buyers), or link it to CRM records (admins)",
        request=DealWriteSerializer,
        responses={200: DealDetailSerializer, 400: FIELD_ERRORS, 403: ERROR, 404: ERROR},
    )
    def partial_update(self, request, pk=None, format=None):
        deal = self.get_object()
        if set(request.data) and not set(request.data) <= set(CrmLinkSerializer().fields):
            self.error_fields = DealWriteSerializer().fields
            deal, _ = deal_upsert_answer(request, deal=deal)
            return self._detail_answer(deal)
        if not request.user.is_revops_admin:
            raise PermissionDenied("Only admins link deals to CRM records.")
        payload = CrmLinkSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        others = sorted(set(request.data) - set(payload.fields))
        if others or not payload.validated_data:
            message = f"Not editable here: {', '.join(others)}." if others else "Give at least one CRM id."
            raise ValidationError(
                {"non_field_errors": [f"{message} Send hubspot_id, salesforce_id or pipedrive_id."]}
            )
        self.error_fields = payload.fields  # a refusal naming another field is a non-field error
        services.deal_link_crm(deal=deal, actor=request.user, links=payload.validated_data)
        return Response(DealDetailSerializer(self.get_object()).data)

    @extend_schema(
        summary="Reopen the deal",
        request=ReopenSerializer,
        responses={200: DealDetailSerializer, 400: FIELD_ERRORS, 404: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None, format=None):
        deal = self.get_object()
        payload = ReopenSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        self.error_fields = payload.fields
        services.deal_reopen(
            deal=deal,
            actor=request.user,
            stage=payload.validated_data.get("stage"),
        )
        return Response(DealDetailSerializer(self.get_object()).data)


CLOSE_SERVICES = {
    DealStatus.LOST: services.deal_mark_lost,
    DealStatus.WON: services.deal_mark_won,
    DealStatus.NO_DECISION: services.deal_mark_no_decision,
}


@extend_schema_view(
    list=extend_schema(
        parameters=[ClosureFilterSerializer],
        summary="Closures of deals you may see",
        responses={200: ClosureSerializer(many=True), 400: FIELD_ERRORS, 404: ERROR},
    ),
    retrieve=extend_schema(summary="One closure", responses={200: ClosureSerializer, 404: ERROR}),
)
class ClosureViewSet(viewsets.ReadOnlyModelViewSet):
    """Every close of a deal you may see; reopened ones stay, with `standing` false."""

    queryset = Closure.objects.none()  # names the model for the schema; get_queryset() scopes the reads
    serializer_class = ClosureSerializer
    pagination_class = ClosureCursorPagination

    def get_queryset(self):
        qs = (
            closures_visible_to(self.request.user)
            .select_related(*CLOSURE_RELATED)
            .prefetch_related("secondary_reasons")
        )
        if self.action == "list":
            data = _query_params(ClosureFilterSerializer, self.request)
            if data.get("deal"):
                qs = qs.filter(deal_id=data["deal"])
            if data.get("outcome"):
                qs = qs.filter(outcome=data["outcome"])
            if data.get("standing") is not None:
                qs = qs.filter(reopened_at__isnull=data["standing"])
        return qs
