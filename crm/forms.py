"""Forms of the integration pages. Secrets are write-only: never rendered back."""

import csv
import io

from django import forms
from django.db import models

from crm.addresses import validate_crm_address
from crm.imports import FIELDS, PRESETS
from crm.models import CrmConnection, CrmKind, ReasonMapping
from reasons.models import Competitor, Reason, ReasonKind

SECRET_FIELDS = ("webhook_secret", "api_token")
MAX_IMPORT_BYTES = 50 * 1024 * 1024


def _https_by_default(field, **kwargs):
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


class ConnectionForm(forms.ModelForm):
    class Meta:
        model = CrmConnection
        formfield_callback = _https_by_default
        fields = [
            "active",
            "base_url",
            "account_id",
            "webhook_username",
            "webhook_secret",
            "api_token",
            "api_version",
            "lost_stages",
            "stage_out",
            "reason_field",
            "reason_value",
            "write_back",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
        # Each "clear" box right under its secret.
        self.order_fields(
            [n for name in self.Meta.fields for n in (name, f"clear_{name}") if n in self.fields]
        )

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
        lost = cleaned.get("lost_stages")
        if lost is not None and not (isinstance(lost, list) and all(isinstance(v, str) for v in lost)):
            self.add_error("lost_stages", 'Give a JSON list of stage values, e.g. ["closedlost"].')
        stage_out = cleaned.get("stage_out")
        if stage_out is not None and not isinstance(stage_out, dict):
            self.add_error(
                "stage_out", 'Give a JSON object, e.g. {"lost": "closedlost", "won": "closedwon"}.'
            )
        return cleaned


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
