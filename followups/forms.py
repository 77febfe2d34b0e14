"""Forms for follow-ups; followups.services decides the rules."""

from django import forms

from followups.models import NurtureSequence
from followups.selectors import nurture_sequences_offered

REASON_DEFAULT = ""
NO_SEQUENCE = "none"


class NurtureSequenceField(forms.ChoiceField):
    """The close form's nurture choice: the reason's default, another sequence, or none."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Nurture sequence")
        kwargs.setdefault(
            "help_text", "Follow-ups after this close: keep the reason's default, pick another, or skip them."
        )
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": "That sequence is not available; choose one from the list."},
        )
        super().__init__(**kwargs)
        self._sequences: dict[str, NurtureSequence] | None = None
        # Read when drawn or when a sequence is chosen, not for the reason's default.
        self.choices = self._offered_choices

    @property
    def sequences(self) -> dict[str, NurtureSequence]:
        if self._sequences is None:
            self._sequences = {str(s.pk): s for s in nurture_sequences_offered()}
        return self._sequences

    def _offered_choices(self) -> list[tuple[str, str]]:
        return [
            (REASON_DEFAULT, "The reason's default sequence"),
            *((pk, sequence.name) for pk, sequence in self.sequences.items()),
            (NO_SEQUENCE, "No sequence (skip follow-ups)"),
        ]


def nurture_kwargs(form: forms.Form, name: str = "nurture_sequence") -> dict:
    """The close service's keyword arguments for the form's nurture choice."""
    if name not in form.fields:
        return {}
    value = form.cleaned_data.get(name) or REASON_DEFAULT
    chosen = value not in (REASON_DEFAULT, NO_SEQUENCE)
    sequence: NurtureSequence | None = form.fields[name].sequences.get(value) if chosen else None
    return {"nurture_sequence": sequence, "skip_nurture": value == NO_SEQUENCE}


class RescheduleForm(forms.Form):
    due_on = forms.DateField(
        label="New date",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Choose the day this follow-up is due.", "invalid": "Enter a date."},
    )
