"""Forms of the integration pages. Secrets are write-only: never rendered back."""

from django import forms

from crm.connection_form import SECRET_FIELDS, ConnectionForm  # noqa: F401 - its own module
from crm.importing.columns import FIELDS, PRESETS
from crm.importing.reading import ENCODINGS, UNDECODABLE, decode_upload, records
from crm.models import CrmKind, ReasonMapping
from reasons.models import Competitor, Reason

MAX_IMPORT_BYTES = 50 * 1024 * 1024


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
    """A CRM's loss-reason text becomes a loss or no-decision reason; its win-reason text a win reason."""

    reason = forms.ModelChoiceField(queryset=Reason.objects.none())
    competitor = forms.ModelChoiceField(queryset=Competitor.objects.filter(active=True), required=False)

    def __init__(self, *args, outcome: str = "lost", **kwargs):
        super().__init__(*args, **kwargs)
        from crm.mapping import classify_kinds

        field = self.fields["reason"]
        field.queryset = Reason.objects.filter(kind__in=classify_kinds(outcome), active=True).order_by(
            "kind", "label"
        )
        field.label_from_instance = _kind_and_label
        if outcome == "won":
            field.help_text = "The win reason the deals won with this text get."
        else:
            field.help_text = "A no-decision reason makes the deals waiting with this text No Decision."


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
