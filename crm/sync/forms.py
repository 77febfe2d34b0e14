from django import forms


class SyncStartForm(forms.Form):
    window_months = forms.IntegerField(
        label="Closed deals of the last … months",
        min_value=1,
        max_value=120,
        initial=24,
        help_text="Open deals all come in; closed ones only when closed within this window.",
    )
