"""The connection form: secrets write-only, and the CRM's stages chosen from lists (checkboxes
for the stages that mean lost or won, one select per outcome written back and per stage of ours),
never typed as JSON. The lists hold the CRM's standard stages, the values already configured
and any typed under "Other CRM stage values"."""

from django import forms
from django.db import models

from crm.addresses import validate_crm_address
from crm.models import CrmConnection, CrmKind
from deals.models import DealStatus, Stage
from teams.models import User

SECRET_FIELDS = ("webhook_secret", "api_token")
# Each CRM's stage values in its standard set-up (Pipedrive: the deal's status).
STANDARD_STAGES = {
    CrmKind.HUBSPOT: ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
                      "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"],
    CrmKind.PIPEDRIVE: ["open", "won", "lost"],
    CrmKind.SALESFORCE: ["Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
                         "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
                         "Negotiation/Review", "Closed Won", "Closed Lost"],
}  # fmt: skip
OUTCOMES = [(DealStatus.LOST, "Lost"), (DealStatus.WON, "Won"), (DealStatus.NO_DECISION, "No decision")]


class LabelledWidgets(forms.MultiWidget):
    """One widget per key (`make()` builds each), each with its own visible label."""

    template_name = "crm/widgets/labelled_widgets.html"

    def __init__(self, items: list[tuple[str, str]], make):
        self.keys = [key for key, _ in items]
        self.labels = [label for _, label in items]
        super().__init__([make() for _ in items])

    def decompress(self, value):
        value = value or {}
        return [value.get(key, "") for key in self.keys]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        for sub, label in zip(context["widget"]["subwidgets"], self.labels, strict=True):
            sub["label"] = label
        return context


class OwnerMapField(forms.MultiValueField):
    """The CRM's owner id of each of our people, typed once: stored as {CRM owner id: user name}
    (a CRM owner given as an e-mail address needs no entry)."""

    def __init__(self, users, **kwargs):
        self.usernames = [user.username for user in users]
        items = [(user.username, f"{user.display_name} ({user.username})") for user in users]
        fields = [forms.CharField(required=False, max_length=64, strip=True) for _ in users]
        super().__init__(
            fields,
            widget=LabelledWidgets(
                items, lambda: forms.TextInput(attrs={"class": "form-control form-control-sm"})
            ),
            require_all_fields=False,
            required=False,
            **kwargs,
        )

    def compress(self, data_list):
        pairs = [
            (crm_id, name) for name, crm_id in zip(self.usernames, data_list or [], strict=False) if crm_id
        ]
        ids = [crm_id for crm_id, _ in pairs]
        twice = sorted({crm_id for crm_id in ids if ids.count(crm_id) > 1})
        if twice:
            raise forms.ValidationError(f"A CRM owner id can belong to one person only: {', '.join(twice)}.")
        return dict(pairs)


def _owner_initial(owner_map: dict) -> dict:
    return {name: crm_id for crm_id, name in (owner_map or {}).items()}


class StageMapField(forms.MultiValueField):
    """{key: CRM stage value} from one select per key; blank selects are left out."""

    def __init__(self, items: list[tuple[str, str]], choices, **kwargs):
        self.keys = [key for key, _ in items]
        fields = [forms.ChoiceField(choices=choices, required=False) for _ in items]
        super().__init__(
            fields,
            widget=LabelledWidgets(
                items, lambda: forms.Select(choices=choices, attrs={"class": "form-select form-select-sm"})
            ),
            require_all_fields=False,
            required=False,
            **kwargs,
        )

    def compress(self, data_list):
        return {key: value for key, value in zip(self.keys, data_list or [], strict=False) if value}


def _stage_values(connection: CrmConnection, extra: list[str]) -> list[str]:
    configured = [
        *(connection.lost_stages or []), *(connection.won_stages or []),
        *(connection.stage_out or {}).values(), *(connection.stage_map or {}).values(),
    ]  # fmt: skip
    values = [*STANDARD_STAGES.get(connection.kind, []), *configured, *extra]
    return [v for v in dict.fromkeys(str(v).strip() for v in values) if v]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _https_by_default(field, **kwargs):
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


class ConnectionForm(forms.ModelForm):
    other_stages = forms.CharField(
        required=False,
        label="Other CRM stage values",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Stages of your CRM not in the lists below, one per line; save to choose them.",
    )

    class Meta:
        model = CrmConnection
        formfield_callback = _https_by_default
        fields = ["active", "base_url", "account_id", "webhook_username", "webhook_secret", "api_token",
                  "token_kind", "api_version", "reason_field", "win_reason_field", "competitor_field",
                  "reason_value", "write_back", "primary_contact_label"]  # fmt: skip
        labels = {"token_kind": "API token kind", "win_reason_field": "Win-reason field",
                  "reason_field": "Loss-reason field", "competitor_field": "Competitor field",
                  "base_url": "API address", "account_id": "Account ID", "api_token": "API token",
                  "api_version": "API version", "webhook_username": "Webhook user name"}  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._secret_fields()
        self._stage_fields()
        if self.instance.kind != CrmKind.PIPEDRIVE:  # only Pipedrive has two kinds of token
            del self.fields["token_kind"]
        order = [n for name in self.Meta.fields for n in (name, f"clear_{name}") if n in self.fields]
        self.order_fields(
            order[:7] + ["other_stages", "lost_stages", "won_stages", "stage_out", "stage_map", "owner_map"]
        )

    def _secret_fields(self) -> None:
        for name in SECRET_FIELDS:
            field = self.fields[name]
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            field.required = False
            if getattr(self.instance, name, ""):
                # Only that it is set: the value itself never goes back to a page.
                field.help_text = f"A value is set. Leave blank to keep it. {field.help_text}"
                self.fields[f"clear_{name}"] = forms.BooleanField(
                    required=False, label=f"Clear the stored {field.label.lower()}"
                )

    def _stage_fields(self) -> None:
        extra = _lines(self.data.get("other_stages", "")) if self.is_bound else []
        values = _stage_values(self.instance, extra)
        pairs = [(v, v) for v in values]
        checkboxes = forms.CheckboxSelectMultiple
        self.fields["lost_stages"] = forms.MultipleChoiceField(
            choices=pairs, required=False, widget=checkboxes, initial=self.instance.lost_stages,
            label="CRM stages that mean closed lost",
        )  # fmt: skip
        self.fields["won_stages"] = forms.MultipleChoiceField(
            choices=pairs, required=False, widget=checkboxes, initial=self.instance.won_stages,
            label="CRM stages that mean closed won",
        )  # fmt: skip
        self.fields["stage_out"] = StageMapField(
            OUTCOMES, [("", "— not written back —"), *pairs], initial=self.instance.stage_out,
            label="CRM stage written back for each outcome",
        )  # fmt: skip
        ours = list(
            dict.fromkeys(Stage.objects.order_by("pipeline_id", "order").values_list("name", flat=True))
        )
        self.fields["stage_map"] = StageMapField(
            [(name, name) for name in ours], [("", "— the same name —"), *pairs],
            initial=self.instance.stage_map, label="CRM stage of each of our open stages",
            help_text="Used when a deal reopened here is written back, and for stage moves from the CRM. "
            "Pipedrive names a stage by its id: type the ids under “Other CRM stage values”.",
        )  # fmt: skip

        people = User.objects.filter(is_active=True, memberships__isnull=False).distinct()
        self.fields["owner_map"] = OwnerMapField(
            list(people.order_by("first_name", "username")), initial=_owner_initial(self.instance.owner_map),
            label="The CRM's owner id of each person",
            help_text="For owner changes from the CRM; an owner the CRM gives as an e-mail address is "
            "matched by e-mail without an entry.",
        )  # fmt: skip

    def clean_base_url(self):
        url = self.cleaned_data["base_url"]
        if "base_url" in self.changed_data:  # a stored address was checked when it was entered
            validate_crm_address(url)
        return url

    def clean(self):
        cleaned = super().clean()
        for name in SECRET_FIELDS:
            clear = cleaned.get(f"clear_{name}")
            if clear and cleaned.get(name):
                self.add_error(name, "Either type a new value or clear the stored one, not both.")
            elif clear:
                cleaned[name] = ""
            elif not cleaned.get(name):  # blank keeps the stored secret
                cleaned[name] = getattr(self.instance, name, "") or ""
        both = set(cleaned.get("lost_stages") or []) & set(cleaned.get("won_stages") or [])
        if both:
            self.add_error("won_stages", f"A stage cannot mean both lost and won: {', '.join(sorted(both))}.")
        return cleaned

    def values(self) -> dict:
        """The connection's fields as saved (crm.services.connection_update): owner-map entries of
        people the page does not list (deactivated, or not in a team yet) are kept."""
        values = {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.fields}
        if "base_url" not in self.changed_data:  # a stored address is not looked up again
            del values["base_url"]
        for name in ("lost_stages", "won_stages", "stage_out", "stage_map"):
            values[name] = self.cleaned_data[name]
        typed = self.cleaned_data["owner_map"]
        listed = set(self.fields["owner_map"].usernames)
        kept = {
            crm_id: name
            for crm_id, name in (self.instance.owner_map or {}).items()
            if name not in listed and crm_id not in typed
        }
        values["owner_map"] = {**kept, **typed}
        return values
