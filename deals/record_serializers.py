"""Companies, buyers and deals as a team's own integration sends them (upserts by external id),
and as the API answers with them."""

import re

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deals.models import Account, Contact, DealContact, Pipeline, Stage
from deals.records import Person
from teams.models import User

EXTERNAL_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,100}$")
CONTACTS_MAX = 50


def _external_id(**kwargs) -> serializers.RegexField:
    return serializers.RegexField(
        EXTERNAL_ID_PATTERN,
        max_length=100,
        help_text="Your system's id for it: letters, digits and _ . : @ - (at most 100).",
        error_messages={"invalid": "Use letters, digits and _ . : @ - only (at most 100)."},
        **kwargs,
    )


# --- answers --------------------------------------------------------------------------------


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "external_id", "name", "domain", "industry", "employees", "updated_at"]
        read_only_fields = fields


class ContactSerializer(serializers.ModelSerializer):
    account = serializers.SerializerMethodField()
    erased = serializers.SerializerMethodField(help_text="Erased on request: name and e-mail are gone.")

    class Meta:
        model = Contact
        fields = ["id", "external_id", "name", "email", "title", "account", "erased", "updated_at"]
        read_only_fields = fields

    def get_account(self, contact) -> dict | None:
        if contact.account_id is None:
            return None
        return {"id": contact.account_id, "name": contact.account.name}

    def get_erased(self, contact) -> bool:
        return contact.erased_at is not None


class DealContactSerializer(serializers.ModelSerializer):
    """A buyer on a deal: who they are, their role on it, and whether nurture e-mails reach them."""

    id = serializers.IntegerField(source="contact_id", read_only=True)
    external_id = serializers.CharField(source="contact.external_id", read_only=True, allow_null=True)
    name = serializers.CharField(source="contact.name", read_only=True)
    email = serializers.CharField(source="contact.email", read_only=True)
    title = serializers.CharField(source="contact.title", read_only=True)
    receives_email = serializers.SerializerMethodField(
        help_text="False when the contact has no address, opted out, or was erased."
    )

    class Meta:
        model = DealContact
        fields = ["id", "external_id", "name", "email", "title", "role", "is_primary", "receives_email"]
        read_only_fields = fields

    def get_receives_email(self, link) -> bool:
        opted_out = self.context.get("opted_out", set())
        email = (link.contact.email or "").lower()
        return bool(email) and email not in opted_out


# --- what the API takes ---------------------------------------------------------------------


class AccountWriteSerializer(serializers.Serializer):
    external_id = _external_id()
    name = serializers.CharField(max_length=200, required=False)
    domain = serializers.CharField(max_length=253, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=100, required=False, allow_blank=True)
    employees = serializers.IntegerField(min_value=0, max_value=10_000_000, required=False, allow_null=True)


class PersonSerializer(serializers.Serializer):
    external_id = _external_id()
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    title = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    role = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    is_primary = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if not attrs["name"].strip() and not attrs["email"]:
            raise serializers.ValidationError({"name": ["Give the contact a name or an e-mail address."]})
        return attrs


class ContactWriteSerializer(serializers.Serializer):
    external_id = _external_id()
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    title = serializers.CharField(max_length=120, required=False, allow_blank=True)
    account = _external_id(required=False, allow_null=True)
    account.help_text = "The company's external id (as sent to /api/accounts/)."
    deal = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="A deal (id) to put the contact on; reps must name one of theirs.",
    )
    role = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    is_primary = serializers.BooleanField(required=False, default=False)


@extend_schema_field(OpenApiTypes.STR)
class OwnerField(serializers.Field):
    """A user by user name or e-mail address."""

    def to_representation(self, value):
        return value.get_username()

    def to_internal_value(self, data):
        if not isinstance(data, str) or not data.strip() or len(data) > 254 or "\x00" in data:
            raise serializers.ValidationError("Give a user name or e-mail address.")
        value = data.strip()
        user = User.objects.filter(Q(username__iexact=value) | Q(email__iexact=value), is_active=True).first()
        if user is None:
            raise serializers.ValidationError(f"No active user has the user name or e-mail “{value}”.")
        return user


class DealWriteSerializer(serializers.Serializer):
    external_id = _external_id()
    name = serializers.CharField(max_length=200, required=False)
    account = AccountWriteSerializer(required=False, help_text="The company, upserted by its external id.")
    owner = OwnerField(required=False, help_text="User name or e-mail; by default you.")
    pipeline = serializers.CharField(max_length=100, required=False, help_text="Pipeline id or name.")
    stage = serializers.CharField(
        max_length=100, required=False, help_text="Stage id or name (an open stage)."
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text="ISO 4217, e.g. EUR.")
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    contacts = serializers.ListField(
        child=PersonSerializer(),
        max_length=CONTACTS_MAX,
        required=False,
        help_text="The deal's buyers, upserted by external id; sent, it replaces the deal's list.",
    )

    def __init__(self, *args, deal=None, **kwargs):
        self.deal = deal
        super().__init__(*args, **kwargs)
        if deal is not None:
            self.fields["external_id"].required = False

    def validate(self, attrs):
        pipeline = None
        if "pipeline" in attrs:
            value = attrs.pop("pipeline").strip()
            lookup = {"pk": int(value)} if value.isdigit() else {"name__iexact": value}
            pipeline = Pipeline.objects.filter(**lookup).first()
            if pipeline is None:
                raise serializers.ValidationError({"pipeline": [f"No pipeline is “{value}”."]})
        elif self.deal is not None:
            pipeline = self.deal.pipeline
        if "stage" in attrs:
            value = attrs["stage"].strip()
            stages = Stage.objects.all() if value.isdigit() else Stage.objects.filter(removed_at__isnull=True)
            if pipeline is not None:
                stages = stages.filter(pipeline=pipeline)
            found = list(
                stages.filter(**({"pk": int(value)} if value.isdigit() else {"name__iexact": value}))[:2]
            )
            if len(found) != 1:
                where = f" of pipeline “{pipeline.name}”" if pipeline else " (name the pipeline)"
                why = "No stage" if not found else "More than one stage"
                raise serializers.ValidationError({"stage": [f"{why}{where} is “{value}”."]})
            attrs["stage"] = found[0]
        if self.deal is None and "stage" not in attrs:
            raise serializers.ValidationError({"stage": ["A new deal needs a stage (id or name)."]})
        if self.deal is None and "account" not in attrs:
            raise serializers.ValidationError({"account": ["A new deal needs its company."]})
        if self.deal is None and not attrs.get("name", "").strip():
            raise serializers.ValidationError({"name": ["A new deal needs a name."]})
        return attrs

    def people(self) -> list[Person] | None:
        items = self.validated_data.get("contacts")
        return None if items is None else [Person(**item) for item in items]
