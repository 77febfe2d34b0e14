"""The admins' pipeline and stage forms: they present the rules, deals.pipelines decides them."""

from django import forms

from deals.models import Pipeline, Stage, StageOutcome
from deals.pipelines import NAME_MAX_LENGTH, StageData


class PipelineForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    win_reason_required = forms.BooleanField(
        required=False,
        initial=True,
        label="A won deal needs a win reason",
        help_text="Marking a deal won in this pipeline asks the rep for a standard win reason.",
    )

    def __init__(self, *args, pipeline: Pipeline | None = None, **kwargs):
        if pipeline is not None:
            kwargs.setdefault(
                "initial", {"name": pipeline.name, "win_reason_required": pipeline.win_reason_required}
            )
        super().__init__(*args, **kwargs)


class StageForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    win_probability = forms.IntegerField(
        min_value=0,
        max_value=100,
        label="Win probability (%)",
        help_text="The chance a deal in this stage is won, from 0 to 100.",
    )
    outcome = forms.ChoiceField(
        choices=[
            (StageOutcome.OPEN, "An open stage: deals work through it"),
            (StageOutcome.LOST, "The deal is lost (like a CRM's “Closed lost”, 0 %)"),
            (StageOutcome.WON, "The deal is won (like a CRM's “Closed won”, 100 %)"),
        ],
        initial=StageOutcome.OPEN,
        required=False,
        label="What this stage means",
        widget=forms.RadioSelect,
        help_text="A stage that closes deals holds no open deal.",
    )

    def __init__(self, *args, stage: Stage | None = None, **kwargs):
        if stage is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": stage.name,
                    "win_probability": stage.win_probability,
                    "outcome": stage.outcome,
                },
            )
        super().__init__(*args, **kwargs)

    def to_data(self) -> StageData:
        return StageData(
            name=self.cleaned_data["name"],
            win_probability=self.cleaned_data["win_probability"],
            outcome=self.cleaned_data["outcome"] or StageOutcome.OPEN,
        )
