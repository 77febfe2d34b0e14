"""Forms present the close rules; deals.services decides them.

The reason, competitor and secondary-reason fields accept any existing row so that a
retired or wrong-kind choice reaches the service, which says exactly what is wrong; the
dropdowns only offer what is active.
"""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Layout, Submit
from django import forms
from django.db.models import Q
from django.forms.models import ModelChoiceIterator
from django.utils.functional import SimpleLazyObject, cached_property

from deals.models import OUTCOME_REASON_KIND, Closure, DealStatus, Stage
from deals.selectors import INDUSTRY_UNKNOWN, SIZE_BANDS, SORTS, DealFilters
from deals.services import NOTE_MAX_LENGTH, SECONDARY_REASONS_MAX
from deals.signals import close_choices
from reasons.models import Competitor, Reason, ReasonCategory
from reasons.selectors import competitors_active, reasons_active
from teams.models import Team


class GroupedReasonIterator(ModelChoiceIterator):
    """Active reasons of the form's kind as <optgroup>s by category."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        groups: dict[str, list] = {}
        for reason in self.field.offered:
            groups.setdefault(reason.category.name, []).append(self.choice(reason))
        yield from groups.items()

    def __len__(self):
        return len(self.field.offered) + (1 if self.field.empty_label is not None else 0)


class OfferedIterator(ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.field.offered:
            yield self.choice(obj)

    def __len__(self):
        return len(self.field.offered)


class KnownRowChoiceField(forms.ModelChoiceField):
    """Takes the row from `known` (already read with the deal, by posted value) when it is there;
    any other value is looked up, and refused, as ModelChoiceField does."""

    known: dict = {}

    def to_python(self, value):
        row = self.known.get(value) if isinstance(value, str) else None
        return row if row is not None else super().to_python(value)


class ReasonChoiceField(KnownRowChoiceField):
    iterator = GroupedReasonIterator


class OfferedChoiceField(KnownRowChoiceField):
    iterator = OfferedIterator


class OfferedMultipleChoiceField(forms.ModelMultipleChoiceField):
    iterator = GroupedReasonIterator
    known: dict = {}  # as KnownRowChoiceField's, in the model's order

    def clean(self, value):
        # Refused for its length before the rows are looked up.
        if value and len(value) > SECONDARY_REASONS_MAX:
            raise forms.ValidationError(f"Choose at most {SECONDARY_REASONS_MAX} secondary reasons.")
        if not value and not self.required:
            return []  # none chosen: no empty queryset to build
        if isinstance(value, list | tuple) and all(isinstance(v, str) and v in self.known for v in value):
            chosen = set(value)
            return [row for key, row in self.known.items() if key in chosen]  # as the queryset's order
        return list(super().clean(value))


class ReasonSelect(forms.Select):
    """Each option carries the reason's rules so the page can show the right fields."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        reason = getattr(value, "instance", None)
        if reason is not None:
            option["attrs"].update(
                {
                    "data-requires-competitor": "true" if reason.requires_competitor else "false",
                    "data-requires-note": "true" if reason.requires_note else "false",
                    "data-reopen-days": reason.reopen_after_days or "",
                    # The reason guide's example too, so two reps pick the same reason for the same story.
                    "data-help": f"{reason.help_text} Example: {reason.example}".strip()
                    if reason.example
                    else reason.help_text,
                    "title": reason.help_text,
                }
            )
        return option


class CloseDealForm(forms.Form):
    reason = ReasonChoiceField(
        queryset=Reason.objects.all(),  # the offered lists carry the categories
        required=False,
        empty_label="Choose a reason…",
        widget=ReasonSelect(attrs={"aria-required": "true", "aria-describedby": "reason-help"}),
        error_messages={"invalid_choice": "That reason does not exist; choose one from the list."},
    )
    competitor = OfferedChoiceField(
        queryset=Competitor.objects.all(),
        required=False,
        empty_label="Choose the competitor…",
        error_messages={"invalid_choice": "That competitor does not exist; choose one from the list."},
    )
    note = forms.CharField(
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What happened, in the buyer's words if you can.",
    )
    secondary_reasons = OfferedMultipleChoiceField(
        queryset=Reason.objects.all(),  # the offered lists carry the categories
        required=False,
        help_text="Optional: other reasons that played a part (Ctrl/Cmd-click to pick several).",
        error_messages={"invalid_choice": "Choose secondary reasons from the list."},
    )
    revisit_on = forms.DateField(
        required=False,
        label="Revisit on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="When to look at this deal again; pre-filled from the reason.",
    )

    def __init__(self, *args, outcome: str, known: dict | None = None, **kwargs):
        """`known`: rows already read for the posted values (deals.close_reads), by field."""
        super().__init__(*args, **kwargs)
        self.outcome = outcome
        known = known or {}
        self.fields["reason"].known = self.fields["secondary_reasons"].known = known.get("reason", {})
        self.fields["competitor"].known = known.get("competitor", {})
        kind = OUTCOME_REASON_KIND[outcome]
        # The dropdowns' lists are read only when the form is drawn: a valid POST reads just
        # the rows it names.
        offered = SimpleLazyObject(lambda: list(reasons_active(kind=kind)))
        self.fields["reason"].offered = offered
        self.fields["secondary_reasons"].offered = offered
        self.fields["competitor"].offered = SimpleLazyObject(lambda: list(competitors_active()))
        if outcome == DealStatus.WON:
            del self.fields["revisit_on"]
            self.fields["competitor"].label = "Competitor beaten"
        else:
            self.fields["competitor"].label = "Lost to" if outcome == DealStatus.LOST else "Competitor"
        if "revisit_on" in self.fields:
            for name, choice in close_choices.items():  # e.g. the nurture sequence (followups)
                self.fields[name] = choice.form_field()
        self.submit_label = {
            DealStatus.LOST: "Mark lost",
            DealStatus.WON: "Mark won",
            DealStatus.NO_DECISION: "Save as No decision",
        }[outcome]

    @cached_property
    def helper(self) -> FormHelper:
        """The layout, built when the form is drawn (a valid POST never is)."""
        offered = self.fields["reason"].offered
        self.fields["secondary_reasons"].widget.attrs["size"] = str(min(8, len(offered) + 4))
        helper = FormHelper()
        helper.form_tag = False
        helper.disable_csrf = True
        fields = [
            Field("reason"),
            Div(css_id="reason-help", css_class="form-text mb-3 reason-help"),
            Div(Field("competitor"), css_id="competitor-group"),
            Field("note"),
            Field("secondary_reasons"),
        ]
        if "revisit_on" in self.fields:
            fields.append(Field("revisit_on"))
            fields.extend(Field(name) for name in close_choices if name in self.fields)
        helper.layout = Layout(*fields)
        self.helper_submit = Submit("save", self.submit_label)
        return helper

    def choice_kwargs(self) -> dict:
        """The close service's arguments for the choices other apps add (lost / no decision)."""
        kwargs = {}
        for name, choice in close_choices.items():
            if name in self.fields:
                kwargs.update(choice.service_kwargs(self, name))
        return kwargs


class ReopenForm(forms.Form):
    stage = forms.ModelChoiceField(
        queryset=Stage.objects.none(),
        required=True,
        help_text="The stage the deal goes back to; by default the one it closed at.",
    )

    def __init__(self, *args, deal, **kwargs):
        super().__init__(*args, **kwargs)
        # Retired and lost stages are not offered, except the one the deal closed at.
        self.fields["stage"].queryset = Stage.objects.filter(pipeline_id=deal.pipeline_id).filter(
            Q(removed_at__isnull=True, outcome="open") | Q(pk=deal.stage_id)
        )


class DealFilterForm(forms.Form):
    """The deal list's filters; choices come from options already scoped to the user."""

    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Deal or account"}),
    )
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *DealStatus.choices, ("disqualified", "Lost, disqualified")],
    )
    pipeline = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    stage = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    closed_from = forms.DateField(
        required=False, label="Closed from", widget=forms.DateInput(attrs={"type": "date"})
    )
    closed_to = forms.DateField(
        required=False, label="Closed to", widget=forms.DateInput(attrs={"type": "date"})
    )
    sort = forms.ChoiceField(required=False, choices=[(key, label) for key, (_f, _d, label) in SORTS.items()])
    # Drill-down from the dashboards: kept as hidden fields and summarised above the list.
    team = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    reason = forms.RegexField(regex=r"^(\d+|none)$", required=False, widget=forms.HiddenInput)
    category = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    competitor = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    industry = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    size = forms.ChoiceField(
        required=False,
        choices=[("", "")] + [(k, v[0]) for k, v in SIZE_BANDS.items()],
        widget=forms.HiddenInput,
    )
    recovery = forms.ChoiceField(
        required=False,
        choices=[("", ""), ("lost", "Ever lost"), ("reopened", "Reopened"), ("won", "Won back")],
        widget=forms.HiddenInput,
    )
    first_lost_reason = forms.RegexField(regex=r"^(\d+|none)$", required=False, widget=forms.HiddenInput)
    sequence = forms.RegexField(regex=r"^(\d+|none)$", required=False, widget=forms.HiddenInput)
    buyer_category = forms.RegexField(regex=r"^(\d+|other|any)$", required=False, widget=forms.HiddenInput)
    drill_fields = (
        "team",
        "reason",
        "category",
        "competitor",
        "industry",
        "size",
        "recovery",
        "first_lost_reason",
        "sequence",
        "buyer_category",
    )

    def __init__(self, *args, options: dict, **kwargs):
        super().__init__(*args, **kwargs)
        # A pipeline or stage removed (in the CRM or on the pipeline pages) is not offered any
        # more; a link that already filters by one keeps working and shows it as removed.
        chosen = {name: str(self.data.get(name) or "") for name in ("pipeline", "stage")}
        self.fields["pipeline"].choices = [("", "Any pipeline")] + [
            (p.pk, p.name if p.active else f"{p.name} (removed)")
            for p in options["pipelines"]
            if p.active or str(p.pk) == chosen["pipeline"]
        ]
        self.fields["stage"].choices = [("", "Any stage")] + [
            (s.pk, f"{s.pipeline.name}: {s.name}" + ("" if s.active else " (removed)"))
            for s in options["stages"]
            if s.active or str(s.pk) == chosen["stage"]
        ]
        self.fields["owner"].choices = [("", "Any owner")] + [
            (u.pk, u.display_name) for u in options["owners"]
        ]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("closed_from"), cleaned.get("closed_to")
        if start and end and start > end:
            self.add_error("closed_to", "“Closed to” must be on or after “Closed from”.")
        return cleaned

    def filters(self) -> DealFilters:
        """The valid filters; an invalid field is ignored (and shown with its error)."""
        self.is_valid()
        data = self.cleaned_data
        return DealFilters(
            status=data.get("status") or "",
            stage=data.get("stage"),
            owner=data.get("owner"),
            pipeline=data.get("pipeline"),
            closed_from=data.get("closed_from"),
            closed_to=data.get("closed_to") if "closed_to" not in self.errors else None,
            q=(data.get("q") or "").strip(),
            sort=data.get("sort") or "newest",
            team=data.get("team"),
            reason=int(data["reason"]) if (data.get("reason") or "").isdigit() else None,
            needs_reason=data.get("reason") == "none",
            category=data.get("category"),
            competitor=data.get("competitor"),
            industry=data.get("industry") or "",
            size=data.get("size") or "",
            recovery=data.get("recovery") or "",
            first_lost_reason=(
                int(data["first_lost_reason"]) if (data.get("first_lost_reason") or "").isdigit() else None
            ),
            first_lost_needs_reason=data.get("first_lost_reason") == "none",
            sequence=int(data["sequence"]) if (data.get("sequence") or "").isdigit() else None,
            no_sequence=data.get("sequence") == "none",
            buyer_category=data.get("buyer_category") or "",
        )

    def drill_down(self) -> list[tuple[str, str]]:
        """The dashboard filters in force, as (what, value) for the page to show."""
        if not self.is_bound:
            return []
        self.is_valid()
        data = self.cleaned_data
        shown = []
        lookups = {"team": Team, "category": ReasonCategory, "competitor": Competitor}
        for name in self.drill_fields:
            value = data.get(name)
            if value in (None, ""):
                continue
            label = str(value)
            if name in lookups:
                label = str(lookups[name].objects.filter(pk=value).first() or value)
            elif name in {"reason", "first_lost_reason"}:
                label = "Needs a reason" if value == "none" else str(Reason.objects.filter(pk=value).first())
            elif name in {"size", "recovery"}:
                label = dict(self.fields[name].choices).get(value, value)
            elif name == "buyer_category":
                label = {"other": "Something else", "any": "Any answer"}.get(value) or str(
                    ReasonCategory.objects.filter(pk=value).first()
                )
            elif name == "sequence" and value == "none":
                label = "No sequence"
            elif name == "industry" and value == INDUSTRY_UNKNOWN:
                label = "Industry unknown"
            elif name == "sequence":  # the sequence of a first loss, through the closure's choice
                names = Closure.objects.filter(nurture__sequence_id=value).values_list(
                    "nurture__sequence__name", flat=True
                )
                label = names.first() or str(value)
            title = {
                "first_lost_reason": "First lost for",
                "size": "Account size",
                "sequence": "Nurture sequence",
                "buyer_category": "Buyer's category",
            }.get(name, name.title())
            shown.append((title, label))
        return shown


class CrmLinkForm(forms.Form):
    """An admin links the deal to its records in the CRMs (blank: not linked)."""

    hubspot_id = forms.CharField(label="HubSpot deal id", required=False, max_length=64)
    salesforce_id = forms.CharField(label="Salesforce opportunity id", required=False, max_length=64)
    pipedrive_id = forms.CharField(label="Pipedrive deal id", required=False, max_length=64)
