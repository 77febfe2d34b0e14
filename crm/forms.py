"""Forms of the integration pages. Secrets are write-only: never rendered back."""

from django import forms
from django.db import models

from crm.addresses import validate_crm_address
from crm.importing.columns import FIELDS, PRESETS
from crm.importing.reading import ENCODINGS, UNDECODABLE, decode_upload, records
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
        self.fields["reason"].queryset = Reason.objects.filter(active=True).order_by("kind", "label")
        self.fields["reason"].label_from_instance = _kind_and_label
        self.fields["reason"].help_text = "A loss, no-decision or win reason: the CRM's text means it."
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


def _kind_and_label(reason: Reason) -> str:
    return f"{reason.get_kind_display()}: {reason.label}"


class ClassifyForm(forms.Form):
    reason = forms.ModelChoiceField(
        queryset=Reason.objects.filter(
            kind__in=[ReasonKind.LOSS, ReasonKind.NO_DECISION], active=True
        ).order_by("kind", "label"),
        help_text="A no-decision reason makes the deals waiting with this text No Decision.",
    )
    competitor = forms.ModelChoiceField(queryset=Competitor.objects.filter(active=True), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].label_from_instance = _kind_and_label


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=CrmKind.choices, label="Exported from")
    file = forms.FileField(label="CSV file", help_text="The CRM's deal export, as CSV.")
    encoding = forms.ChoiceField(
        choices=list(ENCODINGS.items()),
        initial="utf-8",
        required=False,
        label="The file's encoding",
        help_text="CRM exports are UTF-8. The next page previews the first rows: if accents look "
        "wrong, upload again with another encoding. A row holding bytes this encoding cannot read "
        "is reported, and the rest of the file imports.",
    )

    def clean(self):
        cleaned = super().clean()
        upload, encoding = cleaned.get("file"), cleaned.get("encoding") or "utf-8"
        cleaned["encoding"] = encoding
        if upload is None:
            return cleaned
        if upload.size > MAX_IMPORT_BYTES:
            self.add_error("file", "The file is larger than 50 MB; split it.")
            return cleaned
        text = decode_upload(upload.read(), encoding)
        _line, header = next(records([text[:1_000_000]]), (1, None))
        if isinstance(header, list) and any(UNDECODABLE in column for column in header):
            self.add_error(
                "file",
                f"The header row is not {ENCODINGS[encoding].split(' (')[0]} text: choose the encoding "
                "the file was saved in, or export it as CSV (UTF-8).",
            )
        elif not isinstance(header, list) or len(header) < 2:
            self.add_error("file", "The file has no header row of column names; is it CSV?")
        cleaned["text"] = text
        return cleaned


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


class ImportReviewForm(forms.Form):
    """The review page: a stage of ours for each unknown CRM stage value, and which likely
    existing deals to link (checked by default: the admin unticks what is not the same deal)."""

    def __init__(self, *args, review, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "— none: report those rows —"), *[(n, n) for n in review.stage_names]]
        self.stage_values = review.stage_values
        for number, (value, rows) in enumerate(review.stage_values):
            self.fields[f"stage_{number}"] = forms.ChoiceField(
                choices=choices, required=False, label=f"“{value}” ({rows} row{'s' if rows != 1 else ''})"
            )
        self.matches = review.matches
        for match in review.matches:
            self.fields[f"link_{match.external_id}"] = forms.BooleanField(
                required=False,
                initial=True,
                label=f"Row {match.line}: {match.deal_name} ({match.account_name})",
            )

    def stage_map(self) -> dict[str, str]:
        return {
            value: self.cleaned_data[f"stage_{n}"]
            for n, (value, _rows) in enumerate(self.stage_values)
            if self.cleaned_data.get(f"stage_{n}")
        }

    def links(self) -> dict[str, int]:
        return {
            m.external_id: m.deal_id for m in self.matches if self.cleaned_data.get(f"link_{m.external_id}")
        }
