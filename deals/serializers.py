"""Deals and closures as the JSON API shows them, and what the close actions take."""

from rest_framework import serializers

from deals.models import Account, Closure, Contact, Deal, DealStatus, Pipeline, Stage
from deals.services import NOTE_MAX_LENGTH, SECONDARY_REASONS_MAX
from deals.signals import close_choices
from reasons.serializers import (
    MAX_ID,
    CompetitorReferenceField,
    CompetitorRefSerializer,
    ReasonReferenceField,
    ReasonRefSerializer,
)
from teams.models import Team, User


class UserRefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "name"]


class TeamRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name"]


class AccountRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "name", "industry", "employees"]


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "email", "title"]


class PipelineRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pipeline
        fields = ["id", "name"]


class StageRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "order", "win_probability"]


class ClosureSerializer(serializers.ModelSerializer):
    reason = ReasonRefSerializer(read_only=True, allow_null=True)
    secondary_reasons = ReasonRefSerializer(many=True, read_only=True)
    competitor = CompetitorRefSerializer(read_only=True, allow_null=True)
    actor = UserRefSerializer(read_only=True, allow_null=True)
    reopened_by = UserRefSerializer(read_only=True, allow_null=True)
    stage_at_close = StageRefSerializer(read_only=True)
    standing = serializers.BooleanField(
        source="is_standing", read_only=True, help_text="False once the deal was reopened after this close."
    )

    class Meta:
        model = Closure
        fields = [
            "id",
            "deal",
            "outcome",
            "reason",
            "secondary_reasons",
            "competitor",
            "note",
            "revisit_on",
            "needs_reason",
            "actor",
            "stage_at_close",
            "amount_at_close",
            "currency",
            "closed_at",
            "standing",
            "reopened_at",
            "reopened_by",
        ]
        read_only_fields = fields


class DealSerializer(serializers.ModelSerializer):
    account = AccountRefSerializer(read_only=True)
    owner = UserRefSerializer(read_only=True)
    team = TeamRefSerializer(read_only=True)
    pipeline = PipelineRefSerializer(read_only=True)
    stage = StageRefSerializer(read_only=True, help_text="A closed deal keeps the stage it closed at.")
    close_reason = ReasonRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Deal
        fields = [
            "id",
            "name",
            "account",
            "owner",
            "team",
            "pipeline",
            "stage",
            "amount",
            "currency",
            "status",
            "close_reason",
            "needs_reason",
            "created_at",
            "expected_close_date",
            "closed_at",
            "hubspot_id",
            "salesforce_id",
            "pipedrive_id",
        ]
        read_only_fields = fields


class DealDetailSerializer(DealSerializer):
    contacts = serializers.SerializerMethodField(
        help_text="The deal's buyers: role, primary flag, and whether nurture e-mails reach them."
    )
    closures = ClosureSerializer(many=True, read_only=True, help_text="Every close, newest first.")

    class Meta(DealSerializer.Meta):
        fields = [*DealSerializer.Meta.fields, "external_id", "contacts", "closures"]
        read_only_fields = fields

    def get_contacts(self, deal) -> list[dict]:
        from deals.record_serializers import DealContactSerializer

        links = list(deal.contact_links.all())
        lookup = self.context.get("opted_out_lookup")
        opted_out = lookup([link.contact.email for link in links]) if lookup and links else set()
        return DealContactSerializer(links, many=True, context={"opted_out": opted_out}).data


# --- what the API takes ---------------------------------------------------------------------


class DealFilterSerializer(serializers.Serializer):
    """The deal list's filters, the same as the deal list page's."""

    status = serializers.ChoiceField(choices=DealStatus.choices, required=False)
    stage = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, help_text="Stage id.")
    owner = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Owner's user id."
    )
    pipeline = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Pipeline id."
    )
    closed_from = serializers.DateField(required=False, help_text="Closed on or after this day (UTC).")
    closed_to = serializers.DateField(required=False, help_text="Closed on or before this day (UTC).")
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Search in deal and account names."
    )
    team = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, help_text="Team id.")
    needs_reason = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Only lost deals without a standard reason (closed by a CRM).",
    )

    def validate(self, attrs):
        start, end = attrs.get("closed_from"), attrs.get("closed_to")
        if start and end and start > end:
            raise serializers.ValidationError({"closed_to": ["Must be on or after closed_from."]})
        return attrs


class ClosureFilterSerializer(serializers.Serializer):
    deal = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, help_text="Deal id.")
    outcome = serializers.ChoiceField(
        choices=[c for c in DealStatus.choices if c[0] != DealStatus.OPEN], required=False
    )
    standing = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Only standing (true) or reopened (false) closures.",
    )


class BoundedListField(serializers.ListField):
    """A list refused for its length before any item is looked up (no query per item of a huge list)."""

    def to_internal_value(self, data):
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class CloseWonSerializer(serializers.Serializer):
    reason = ReasonReferenceField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The primary reason: its id or its stable code. Must be active and of the outcome's kind.",
    )
    competitor = CompetitorReferenceField(
        required=False, allow_null=True, default=None, help_text="The competitor: its id or its name."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX_LENGTH, default="")
    secondary_reasons = BoundedListField(
        child=ReasonReferenceField(), required=False, max_length=SECONDARY_REASONS_MAX, default=list
    )


class CloseLostSerializer(CloseWonSerializer):
    revisit_on = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="When to look at this deal again."
    )


class CloseWithNurtureSerializer(CloseLostSerializer):
    """Lost / no decision closes, with the choices other apps add (deals.signals.close_choices):
    the nurture sequence, as on the close form."""

    def get_fields(self):
        fields = super().get_fields()
        for choice in close_choices.values():
            fields.update(choice.api_fields())
        return fields


class ReopenSerializer(serializers.Serializer):
    stage = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.all(),
        required=False,
        allow_null=True,
        help_text="Stage id to reopen in; by default the stage it closed at.",
    )


class CrmLinkSerializer(serializers.Serializer):
    """The deal's ids in the CRMs; null or "" unlinks. Only the fields sent change."""

    hubspot_id = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    salesforce_id = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    pipedrive_id = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True)
