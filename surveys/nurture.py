"""{{ survey_url }} in a nurture e-mail: followups asks this provider while it renders a step."""

from surveys.services import survey_for_nurture, survey_url


def survey_url_for_followup(followup) -> dict:
    """The survey link for a contact e-mail whose step uses it (made once per close), else nothing."""
    step = followup.step
    if step is None or followup.contact is None or "survey_url" not in f"{step.subject}{step.body}":
        return {}
    survey = survey_for_nurture(closure=followup.closure, contact=followup.contact)
    return {"survey_url": survey_url(survey) if survey else ""}
