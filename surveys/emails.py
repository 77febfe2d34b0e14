"""The survey e-mail: the admin's text with the buyer's first name, their company and the link.

Only plain values reach the admin-written template: no deal, amount, reason or rep.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template import Context, Engine
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape, linebreaks, urlize

from surveys.models import Survey, SurveySettings

SMTP_TIMEOUT = 30  # seconds: a hung mail server must not hold a worker (and the row lock) forever


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _first_name(name: str) -> str:
    return (name.split() or [""])[0]


def render_email(
    *, config: SurveySettings, contact_name: str, account_name: str, url: str
) -> tuple[str, str]:
    """The subject and plain-text body; the link is added at the end when the text lacks it."""
    context = Context(
        {
            "contact": {"name": contact_name, "first_name": _first_name(contact_name)},
            "account": {"name": account_name},
            "survey_url": url,
        },
        autoescape=False,
    )
    engine = Engine.get_default()
    subject = " ".join(engine.from_string(config.email_subject).render(context).split())
    body = engine.from_string(config.email_body).render(context).strip()
    if url not in body:
        body += f"\n\n{url}"
    return subject, body


def build_message(
    *, to: str, subject: str, body: str, url: str, message_id: str = ""
) -> EmailMultiAlternatives:
    from followups.services import opt_out_token

    # The same unsubscribe link as the nurture e-mails: one opt-out stops both.
    opt_out_url = absolute(reverse("followups:opt-out", args=[opt_out_token(to)]))
    context = {
        "subject": subject,
        "body_html": urlize(linebreaks(escape(body))),
        "survey_url": url,
        "opt_out_url": opt_out_url,
    }
    headers = {"List-Unsubscribe": f"<{opt_out_url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    if message_id:
        headers["Message-ID"] = message_id
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("surveys/email/survey.txt", {"body": body, "opt_out_url": opt_out_url}),
        to=[to],
        headers=headers,
        connection=get_connection(timeout=SMTP_TIMEOUT),
    )
    message.attach_alternative(render_to_string("surveys/email/survey.html", context), "text/html")
    return message


def survey_message(survey: Survey, *, url: str, config: SurveySettings) -> EmailMultiAlternatives:
    """The e-mail asking one contact for their feedback (one Message-ID per survey)."""
    subject, body = render_email(
        config=config, contact_name=survey.contact.name, account_name=survey.deal.account.name, url=url
    )
    host = urlsplit(settings.SITE_URL).hostname or "closedlost"
    return build_message(
        to=survey.contact.email,
        subject=subject,
        body=body,
        url=url,
        message_id=f"<survey-{survey.pk}@{host}>",
    )
