"""Forms of the integration pages. Secrets are write-only: never rendered back."""

import csv
import io

from django import forms

from crm.connection_form import SECRET_FIELDS, ConnectionForm  # noqa: F401 - its own module
from crm.imports import FIELDS, PRESETS
from crm.models import CrmKind, ReasonMapping
from reasons.models import Competitor, Reason, ReasonKind

MAX_IMPORT_BYTES = 50 * 1024 * 1024


class ReasonMappingForm(forms.ModelForm):
    class Meta:
        model = ReasonMapping
        fields = ["kind", "crm_value", "reason", "competitor"]
        labels = {"crm_value": "CRM value", "kind": "CRM"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "Any CRM"), *CrmKind.choices]
        self.fields["reason"].queryset = Reason.objects.filter(kind=ReasonKind.LOSS, active=True)
        self.fields["competitor"].queryset = Competitor.objects.filter(active=True)

    def clean_crm_value(self):
        from crm.services import normalise_reason_text

        value = normalise_reason_text(self.cleaned_data["crm_value"])
        if not value:
            raise forms.ValidationError("Type the CRM's reason text.")
        kind = self.data.get("kind", "")
        if ReasonMapping.objects.filter(kind=kind, crm_value=value).exists():
            raise forms.ValidationError("This CRM value is already mapped.")
        return value


class ClassifyForm(forms.Form):
    reason = forms.ModelChoiceField(queryset=Reason.objects.filter(kind=ReasonKind.LOSS, active=True))
    competitor = forms.ModelChoiceField(queryset=Competitor.objects.filter(active=True), required=False)


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=CrmKind.choices, label="Exported from")
    file = forms.FileField(label="CSV file", help_text="The CRM's deal export, as CSV (UTF-8).")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError("The file is larger than 50 MB; split it.")
        raw = upload.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The file is not UTF-8 text; export it as CSV (UTF-8).") from exc
        rows = csv.reader(io.StringIO(text))
        try:
            header = next(rows, None)
        except csv.Error as exc:
            raise forms.ValidationError(f"The file is not CSV: {exc}.") from exc
        if not header or len(header) < 2:
            raise forms.ValidationError("The file has no header row of column names.")
        self.cleaned_data["text"] = text
        return upload


class ImportMappingForm(forms.Form):
    """One select per field of ours: which column of the file holds it (preset per CRM)."""

    def __init__(self, *args, headers: list[str], kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        preset = PRESETS[kind]
        choices = [("", "— not in this file —"), *[(h, h) for h in headers]]
        for name, (label, required) in FIELDS.items():
            guess = next((h for h in preset.get(name, ()) if h in headers), "")
            self.fields[name] = forms.ChoiceField(
                choices=choices, required=required, label=label, initial=guess
            )

    def column_map(self) -> dict[str, str]:
        return {name: column for name, column in self.cleaned_data.items() if column}
