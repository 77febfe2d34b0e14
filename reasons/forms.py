"""Forms for the taxonomy pages: they present the fields; reasons.services decides the rules."""

from django import forms

from reasons.models import Competitor, Reason, ReasonCategory, ReasonKind, TaxonomyChange
from reasons.services import CompetitorData, ReasonData
from teams.models import User


class ReasonForm(forms.Form):
    kind = forms.ChoiceField(
        choices=ReasonKind.choices, help_text="Chosen once; a reason never changes kind."
    )
    category = forms.ModelChoiceField(queryset=ReasonCategory.objects.all(), empty_label="Choose a category…")
    label = forms.CharField(max_length=200, help_text="What reps see in the close form.")
    code = forms.CharField(
        max_length=200,
        help_text="Stable identifier for CRMs and the API, e.g. “price-too-high”. Never reused; "
        "frozen once a closure uses the reason.",
    )
    help_text = forms.CharField(
        required=False,
        label="Help text",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One line shown under the reason in the close form.",
    )
    example = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="A short story that fits this reason, shown in the reason guide.",
    )
    requires_competitor = forms.BooleanField(required=False, label="Requires a competitor")
    requires_note = forms.BooleanField(
        required=False, label="Requires a note", help_text="Every “Other” reason should."
    )
    is_catch_all = forms.BooleanField(
        required=False,
        label="Catch-all reason",
        help_text="Mark “Other”-style reasons: the taxonomy-health “Other” share counts them.",
    )
    is_disqualifying = forms.BooleanField(
        required=False,
        label="Disqualifying (loss reasons)",
        help_text="A deal lost for this reason should never have been in the pipeline: counted apart "
        "as disqualified and left out of win rates.",
    )
    reopen_after_days = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=3650,
        label="Default reopen after (days)",
        help_text="Pre-fills the close form's “revisit on” date; empty for none.",
    )

    def __init__(self, *args, reason: Reason | None = None, code_frozen: bool = False, **kwargs):
        if reason is not None:
            kwargs.setdefault(
                "initial",
                {
                    "kind": reason.kind,
                    "category": reason.category_id,
                    "label": reason.label,
                    "code": reason.code,
                    "help_text": reason.help_text,
                    "example": reason.example,
                    "requires_competitor": reason.requires_competitor,
                    "requires_note": reason.requires_note,
                    "is_catch_all": reason.is_catch_all,
                    "is_disqualifying": reason.is_disqualifying,
                    "reopen_after_days": reason.reopen_after_days,
                },
            )
        super().__init__(*args, **kwargs)
        if reason is not None:
            # The kind never changes; the code only until a closure uses the reason.
            self.fields["kind"].disabled = True
            if code_frozen:
                self.fields["code"].disabled = True
                self.fields["code"].help_text = "Closures use this reason, so its code is frozen."

    def to_data(self) -> ReasonData:
        data = self.cleaned_data
        return ReasonData(
            category=data["category"],
            code=data["code"],
            label=data["label"],
            help_text=data["help_text"],
            example=data["example"],
            requires_competitor=data["requires_competitor"],
            requires_note=data["requires_note"],
            is_catch_all=data["is_catch_all"],
            is_disqualifying=data["is_disqualifying"],
            reopen_after_days=data["reopen_after_days"],
        )


class CategoryForm(forms.Form):
    name = forms.CharField(max_length=200)
    code = forms.CharField(
        max_length=200, help_text="Lowercase letters, digits, dashes and underscores; set once."
    )

    def __init__(self, *args, category: ReasonCategory | None = None, **kwargs):
        if category is not None:
            kwargs.setdefault("initial", {"name": category.name, "code": category.code})
        super().__init__(*args, **kwargs)
        if category is not None:
            self.fields["code"].disabled = True


class CompetitorForm(forms.Form):
    name = forms.CharField(max_length=200)
    aliases = forms.CharField(
        required=False,
        help_text="Other spellings seen in CRM free text, separated by commas.",
    )

    def __init__(self, *args, competitor: Competitor | None = None, **kwargs):
        if competitor is not None:
            kwargs.setdefault("initial", {"name": competitor.name, "aliases": ", ".join(competitor.aliases)})
        super().__init__(*args, **kwargs)

    def to_data(self) -> CompetitorData:
        aliases = [alias.strip() for alias in self.cleaned_data["aliases"].split(",") if alias.strip()]
        return CompetitorData(name=self.cleaned_data["name"], aliases=aliases)


class MergeForm(forms.Form):
    """Pick the survivor. Any row is accepted so the service can say why a choice is refused."""

    into = forms.ModelChoiceField(
        queryset=Reason.objects.none(),
        label="Merge into",
        empty_label="Choose the reason that survives…",
        error_messages={"invalid_choice": "That choice does not exist; pick one from the list."},
    )

    def __init__(self, *args, queryset, offered, label: str, empty_label: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["into"].queryset = queryset
        self.fields["into"].label = label
        self.fields["into"].empty_label = empty_label
        choices: list = [("", empty_label)]
        groups: dict[str, list] = {}
        for row in offered:
            if isinstance(row, Reason):  # reasons in <optgroup>s by category, as reps see them
                groups.setdefault(row.category.name, []).append((row.pk, str(row)))
            else:
                choices.append((row.pk, str(row)))
        self.fields["into"].choices = choices + list(groups.items())


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A .json or .csv file exported from a closedlost taxonomy page.")


class HistoryFilterForm(forms.Form):
    subject = forms.ChoiceField(required=False, choices=[("", "Anything"), *TaxonomyChange.Subject.choices])
    action = forms.ChoiceField(required=False, choices=[("", "Any change"), *TaxonomyChange.Action.choices])
    actor = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Who")
    q = forms.CharField(required=False, label="Search", max_length=100)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        admins = User.objects.filter(role=User.Role.ADMIN) | User.objects.filter(is_superuser=True)
        self.fields["actor"].choices = [("", "Anyone")] + [
            (user.pk, user.display_name) for user in admins.distinct().order_by("username")
        ]
