"""Follow-ups in the JSON API: read the ones you may see, and act on them as on the pages.

Reads go through followups.selectors (another team's follow-up is a 404); every action goes
through followups.services.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from closedlost.api_errors import ERROR, FIELD_ERRORS
from followups import services
from followups.models import OPEN_Q, FollowUp, FollowUpKind, FollowUpState
from followups.selectors import followups_visible_to


class FollowUpSerializer(serializers.ModelSerializer):
    deal_name = serializers.CharField(source="deal.name", read_only=True)
    assignee = serializers.CharField(source="assignee.username", read_only=True)
    sequence = serializers.CharField(source="sequence.name", read_only=True, default=None, allow_null=True)
    contact_email = serializers.CharField(
        source="contact.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = FollowUp
        fields = [
            "id", "deal", "deal_name", "closure", "kind", "title", "sequence", "assignee", "contact_email",
            "due_at", "state", "attempts", "last_error", "sent_at", "completed_at", "cancelled_reason",
        ]  # fmt: skip
        read_only_fields = fields


class FollowUpFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=FollowUpState.choices, required=False)
    kind = serializers.ChoiceField(choices=FollowUpKind.choices, required=False)
    open = serializers.BooleanField(required=False, help_text="Only those someone may still act on.")
    mine = serializers.BooleanField(required=False, help_text="Only those assigned to you.")
    due_before = serializers.DateTimeField(required=False)


class SnoozeSerializer(serializers.Serializer):
    days = serializers.ChoiceField(choices=[1, 7], help_text="1 day or 1 week.")


class RescheduleSerializer(serializers.Serializer):
    due_on = serializers.DateField()


class FollowUpCursorPagination(CursorPagination):
    ordering = ("due_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _act(function, **kwargs):
    """Run a follow-up service; a refusal is answered by closedlost.api_errors.exception_handler."""
    return Response(FollowUpSerializer(function(**kwargs)).data)


@extend_schema_view(
    list=extend_schema(parameters=[FollowUpFilterSerializer], summary="Follow-ups you may see, by due date"),
    retrieve=extend_schema(summary="One follow-up"),
)
class FollowUpViewSet(viewsets.ReadOnlyModelViewSet):
    """Follow-ups: reps see their own deals', managers their teams', admins all."""

    queryset = FollowUp.objects.none()  # names the model for the schema; get_queryset() scopes the reads
    serializer_class = FollowUpSerializer
    pagination_class = FollowUpCursorPagination

    def get_queryset(self):
        qs = followups_visible_to(self.request.user).select_related("deal", "assignee", "sequence", "contact")
        if self.action != "list":
            return qs
        params = FollowUpFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        if "state" in data:
            qs = qs.filter(state=data["state"])
        if "kind" in data:
            qs = qs.filter(kind=data["kind"])
        if data.get("open"):
            qs = qs.filter(OPEN_Q)
        if data.get("mine"):
            qs = qs.filter(assignee=self.request.user)
        if "due_before" in data:
            qs = qs.filter(due_at__lt=data["due_before"])
        return qs

    @extend_schema(
        summary="Mark done", request=None, responses={200: FollowUpSerializer, 404: ERROR, 409: ERROR}
    )
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None, format=None):
        return _act(services.followup_complete, followup=self.get_object(), actor=request.user)

    @extend_schema(
        summary="Skip (cancel) one that has not gone out",
        request=None,
        responses={200: FollowUpSerializer, 404: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["post"])
    def skip(self, request, pk=None, format=None):
        return _act(services.followup_skip, followup=self.get_object(), actor=request.user)

    @extend_schema(
        summary="Snooze for 1 day or 1 week",
        request=SnoozeSerializer,
        responses={200: FollowUpSerializer, 400: FIELD_ERRORS, 404: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None, format=None):
        followup = self.get_object()
        payload = SnoozeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return _act(
            services.followup_snooze,
            followup=followup,
            actor=request.user,
            days=payload.validated_data["days"],
        )

    @extend_schema(
        summary="Move to another day",
        request=RescheduleSerializer,
        responses={200: FollowUpSerializer, 400: FIELD_ERRORS, 404: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None, format=None):
        followup = self.get_object()
        payload = RescheduleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return _act(
            services.followup_reschedule,
            followup=followup,
            actor=request.user,
            due_on=payload.validated_data["due_on"],
        )
