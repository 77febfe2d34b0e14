from django.apps import AppConfig


class SurveysConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "surveys"
    verbose_name = "Buyer feedback surveys"

    def ready(self) -> None:
        # The nurture e-mails' {{ survey_url }}: followups asks its providers, it never imports us.
        from followups import emails
        from surveys import erasure  # noqa: F401 - connects the erasure receiver
        from surveys.nurture import survey_url_for_followup

        if survey_url_for_followup not in emails.step_context_providers:
            emails.step_context_providers.append(survey_url_for_followup)
        # The findings' rep-vs-buyer disagreement: insights asks its cell sources.
        from insights import findings
        from surveys.findings import disagreement_cells

        if disagreement_cells not in findings.CELL_SOURCES:
            findings.CELL_SOURCES.append(disagreement_cells)
