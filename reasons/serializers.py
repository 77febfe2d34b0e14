"""The reason taxonomy as the JSON API shows it (and, for admins, takes it)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reasons.models import Competitor, Reason, ReasonCategory

# Ids are PostgreSQL bigints; a larger number can only be a mistake.
MAX_ID = 2**63 - 1


class ReasonCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = ReasonCategory
        fields = ["id", "code", "name", "order"]


class ReasonRefSerializer(serializers.ModelSerializer):
    """A reason as other objects point to it."""

    class Meta:
        model = Reason
        fields = ["id", "code", "label", "kind"]


class ReasonSerializer(serializers.ModelSerializer):
    category = ReasonCategorySerializer(read_only=True)

    class Meta:
        model = Reason
        fields = [
            "id",
            "code",
            "kind",
            "label",
            "help_text",
            "example",
            "category",
            "order",
            "active",
            "requires_competitor",
            "requires_note",
            "reopen_after_days",
            "merged_into",
        ]


class CompetitorRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Competitor
        fields = ["id", "name"]


class CompetitorSerializer(serializers.ModelSerializer):
    aliases = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Competitor
        fields = ["id", "name", "active", "aliases", "merged_into"]


@extend_schema_field(
    {"oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"type": "string", "minLength": 1}]}
)
class ReasonReferenceField(serializers.Field):
    """A reason by its id (a number) or its stable code (text).

    Any existing reason is accepted here, retired or of another kind, so that the close
    service can say exactly what is wrong with it.
    """

    default_error_messages = {
        "invalid": "Give a reason id (a number) or a reason code (text).",
        "does_not_exist": "No reason has the id or code “{value}”.",
    }

    def to_internal_value(self, data) -> Reason:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        reason = None
        if isinstance(data, int):
            if 1 <= data <= MAX_ID:
                reason = Reason.objects.filter(pk=data).first()
        else:
            text = data.strip()
            if not text or "\x00" in text:
                self.fail("invalid")
            reason = Reason.objects.filter(code=text).first()
            if reason is None and text.isdigit() and int(text) <= MAX_ID:
                reason = Reason.objects.filter(pk=int(text)).first()
        if reason is None:
            self.fail("does_not_exist", value=data)
        return reason

    def to_representation(self, value: Reason) -> str:
        return value.code


@extend_schema_field(
    {"oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"type": "string", "minLength": 1}]}
)
class CompetitorReferenceField(serializers.Field):
    """A competitor by its id (a number) or its name (text, any case)."""

    default_error_messages = {
        "invalid": "Give a competitor id (a number) or a competitor name (text).",
        "does_not_exist": "No competitor has the id or name “{value}”.",
    }

    def to_internal_value(self, data) -> Competitor:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        competitor = None
        if isinstance(data, int):
            if 1 <= data <= MAX_ID:
                competitor = Competitor.objects.filter(pk=data).first()
        else:
            text = data.strip()
            if not text or "\x00" in text:
                self.fail("invalid")
            competitor = Competitor.objects.filter(name__iexact=text).first()
            if competitor is None and text.isdigit() and int(text) <= MAX_ID:
                competitor = Competitor.objects.filter(pk=int(text)).first()
        if competitor is None:
            self.fail("does_not_exist", value=data)
        return competitor

    def to_representation(self, value: Competitor) -> str:
        return value.name
