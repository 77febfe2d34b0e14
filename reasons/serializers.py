"""The reason taxonomy as the JSON API shows it (and, for admins, takes it)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reasons.models import Competitor, Reason, ReasonCategory, ReasonKind

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


# --- what admins send ---------------------------------------------------------------------------


@extend_schema_field(
    {"oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"type": "string", "minLength": 1}]}
)
class CategoryReferenceField(serializers.Field):
    """A reason category by its id (a number) or its code (text)."""

    default_error_messages = {
        "invalid": "Give a category id (a number) or a category code (text).",
        "does_not_exist": "No category has the id or code “{value}”.",
    }

    def to_internal_value(self, data) -> ReasonCategory:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        category = None
        if isinstance(data, int):
            if 1 <= data <= MAX_ID:
                category = ReasonCategory.objects.filter(pk=data).first()
        else:
            text = data.strip()
            if not text or "\x00" in text:
                self.fail("invalid")
            category = ReasonCategory.objects.filter(code=text).first()
            if category is None and text.isdigit() and int(text) <= MAX_ID:
                category = ReasonCategory.objects.filter(pk=int(text)).first()
        if category is None:
            self.fail("does_not_exist", value=data)
        return category

    def to_representation(self, value: ReasonCategory) -> str:
        return value.code


class ReasonWriteSerializer(serializers.Serializer):
    """A reason's editable fields; the taxonomy services check the rules (unique codes, labels...)."""

    category = CategoryReferenceField(help_text="Category id or code.")
    code = serializers.CharField(
        max_length=200, help_text="Stable identifier; frozen once a closure uses it, never reused."
    )
    label = serializers.CharField(max_length=500)
    help_text = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    example = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    requires_competitor = serializers.BooleanField(required=False, default=False)
    requires_note = serializers.BooleanField(required=False, default=False)
    reopen_after_days = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=100_000
    )


class ReasonCreateSerializer(ReasonWriteSerializer):
    kind = serializers.ChoiceField(choices=ReasonKind.choices, help_text="Chosen once; it cannot change.")


class CompetitorWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=500)
    aliases = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list, max_length=100
    )


class ReasonMergeSerializer(serializers.Serializer):
    into = ReasonReferenceField(help_text="The surviving reason: its id or code.")


class CompetitorMergeSerializer(serializers.Serializer):
    into = CompetitorReferenceField(help_text="The surviving competitor: its id or name.")
