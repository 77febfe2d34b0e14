"""The survey e-mail: the admin's text with the buyer's first name, their company and the link.

Only the allowed values reach the admin-written template (followups.buyer_templates): no deal,
amount, reason or note; the sender is the deal's owner, by name and address only.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from followups.buyer_templates import NotSendable, buyer_context, render_buyer_template
from followups.emails import buyer_message, message_id_for, opt_out_url_for
from surveys.models import Survey, SurveySettings


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def render_email(
    *, config: SurveySettings, contact_name: str, account_name: str, url: str, to: str = "", owner=None
) -> tuple[str, str, dict]:
    """The subject, plain-text body and the values they were drawn from; the link is added at
    the end when the text lacks it. NotSendable when the link or the opt-out link is empty."""
    if not url:
        raise NotSendable("The survey link would be empty.")
    context = buyer_context(
        contact_name=contact_name,
        account_name=account_name,
        owner=owner,
        survey_url=url,
        opt_out_url=opt_out_url_for(to) if to else "",
    )
    subject = " ".join(render_buyer_template(config.email_subject, context).split())
    body = render_buyer_template(config.email_body, context).strip()
    if url not in body:
        body += f"\n\n{url}"
    return subject, body, context


def build_message(
    *, to: str, subject: str, body: str, context: dict, message_id: str = ""
) -> EmailMultiAlternatives:
    """The survey e-mail's text and HTML (the same opt-out as the nurture e-mails: one stops both)."""
    return buyer_message(
        to=to,
        subject=subject,
        body=body,
        context=context,
        template="surveys/email/survey",
        headers={"Message-ID": message_id} if message_id else {},
    )


def survey_message(survey: Survey, *, url: str, config: SurveySettings) -> EmailMultiAlternatives:
    """The e-mail asking one contact for their feedback (one Message-ID per survey)."""
    to = survey.contact.email
    if not to:
        raise NotSendable(f"{survey.contact.name} has no e-mail address.")
    subject, body, context = render_email(
        config=config,
        contact_name=survey.contact.name,
        account_name=survey.deal.account.name,
        url=url,
        to=to,
        owner=survey.deal.owner,
    )
    return build_message(
        to=to, subject=subject, body=body, context=context, message_id=message_id_for("survey", survey.pk)
    )
