"""The buyer's survey form (it only presents the rules: surveys.services checks them) and the
figures page's filters."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from reasons.models import Competitor, Reason
from surveys.services import Answer
from surveys.wording import buyer_reasons, category_label, reason_label

OTHER = "other"
NONE_CHOSEN = "none"
RATINGS = [
    (str(n), label) for n, label in [(1, "1 – poorly"), (2, "2"), (3, "3"), (4, "4"), (5, "5 – very well")]
]
MAX_TEXT = 4000


class SurveyForm(forms.Form):
    main_reason = forms.ChoiceField(
        label="What was the main reason you decided not to go ahead?",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the main reason, or “Something else” and tell us."},
    )
    main_reason_other = forms.CharField(
        label="In your own words",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    secondary_reasons = forms.MultipleChoiceField(
        label="Anything else that played a part? (optional)",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    chose_instead = forms.ChoiceField(
        label="Who did you choose instead? (optional)", required=False, widget=forms.RadioSelect
    )
    process_rating = forms.ChoiceField(
        label="How well did we handle the process with you? (optional)",
        required=False,
        choices=RATINGS,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label="Anything you would like to tell us? (optional)",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    may_contact_again = forms.ChoiceField(
        label="May we contact you again in the future?",
        choices=[("yes", "Yes"), ("no", "No, please do not e-mail me again")],
        widget=forms.RadioSelect,
        error_messages={"required": "Tell us whether we may contact you again."},
    )

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.reasons = {str(r.pk): r for r in buyer_reasons(kind)}
        self.groups: list[tuple[str, list[tuple[str, str]]]] = []
        for reason in self.reasons.values():
            label = category_label(reason.category)
            if not self.groups or self.groups[-1][0] != label:
                self.groups.append((label, []))
            self.groups[-1][1].append((str(reason.pk), reason_label(reason)))
        options = [(pk, label) for _group, choices in self.groups for pk, label in choices]
        self.fields["main_reason"].choices = [*options, (OTHER, "Something else")]
        self.fields["secondary_reasons"].choices = options
        self.competitors = {str(c.pk): c for c in Competitor.objects.filter(active=True).order_by("name")}
        self.fields["chose_instead"].choices = [
            *[(pk, c.name) for pk, c in self.competitors.items()],
            (NONE_CHOSEN, "Nobody: we kept what we had"),
        ]

    def clean(self):
        data = super().clean()
        if data.get("main_reason") == OTHER and not (data.get("main_reason_other") or "").strip():
            self.add_error("main_reason_other", "Tell us the reason in a few words.")
        return data

    def answer(self) -> Answer:
        data = self.cleaned_data
        main = data["main_reason"]
        chose = data.get("chose_instead") or ""
        rating = data.get("process_rating")
        return Answer(
            main_reason=None if main == OTHER else self.reasons[main],
            main_reason_other=data.get("main_reason_other", "") if main == OTHER else "",
            secondary_reasons=[self.reasons[pk] for pk in data.get("secondary_reasons", [])],
            competitor=self.competitors.get(chose),
            kept_what_they_had=chose == NONE_CHOSEN,
            process_rating=int(rating) if rating else None,
            comment=data.get("comment", ""),
            may_contact_again=data["may_contact_again"] == "yes",
        )


class FiguresFilterForm(forms.Form):
    """The feedback page's filters: closes in a period, a team, a rep, a reason (the quotes)."""

    date_from = forms.DateField(
        required=False, label="Closed from", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="Closed to", widget=forms.DateInput(attrs={"type": "date"})
    )
    team = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Rep")
    quote_reason = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Quotes about")

    def __init__(self, *args, teams, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "All my teams")] + [(t.pk, t.name) for t in teams]
        self.fields["owner"].choices = [("", "Every rep")] + [(u.pk, u.display_name) for u in owners]
        reasons = (
            Reason.objects.exclude(kind="win").filter(merged_into__isnull=True).order_by("kind", "label")
        )
        self.fields["quote_reason"].choices = [("", "Every reason")] + [(r.pk, r.label) for r in reasons]
        for field in self.fields.values():
            css = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            field.widget.attrs["class"] = css

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def values(self) -> dict:
        today = timezone.localdate()
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return {
            "date_from": data.get("date_from") or today - timedelta(days=365),
            "date_to": data.get("date_to") or today,
            "team": data.get("team"),
            "owner": data.get("owner"),
            "quote_reason": data.get("quote_reason"),
        }


def selected_values(bound_field) -> set[str]:
    value = bound_field.value()
    if value in (None, ""):
        return set()
    return {str(v) for v in value} if isinstance(value, list | tuple) else {str(value)}


def choice_groups(form: SurveyForm, name: str) -> list[tuple[str, list[tuple[str, str, bool]]]]:
    """A radio / checkbox field's options as (group, [(value, label, checked)]) for the template;
    reasons are grouped by their category in buyer words, other fields form one group."""
    selected = selected_values(form[name])
    if name in {"main_reason", "secondary_reasons"}:
        groups = [(g, [(v, lbl, v in selected) for v, lbl in items]) for g, items in form.groups]
        if name == "main_reason":
            groups.append(("", [(OTHER, "Something else", OTHER in selected)]))
        return groups
    return [("", [(str(v), lbl, str(v) in selected) for v, lbl in form.fields[name].choices])]
