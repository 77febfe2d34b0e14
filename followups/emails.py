"""The emails a follow-up sends: plain text and HTML, through Django's email backend."""

from datetime import datetime, time
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template import Context, Engine
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from followups.buyer_templates import NotSendable, buyer_context, render_buyer_template, uses_placeholder
from followups.models import FollowUp, FollowUpKind

SMTP_TIMEOUT = 30  # seconds: a hung mail server must not hold a worker (and the row lock) forever
# Other apps add placeholders to a contact e-mail's step (surveys: {{ survey_url }}) without
# followups importing them: each is called with the follow-up and returns a dict.
step_context_providers: list = []


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _deal_and_owner(deal) -> dict:
    owner = deal.owner
    return {
        "deal": {
            "name": deal.name,
            "account": deal.account.name,
            "amount": deal.amount,
            "currency": deal.currency,
        },
        "owner": {
            "name": owner.display_name,
            "first_name": owner.first_name or owner.username,
            "email": owner.email,
        },
        # The buyer's placeholders work in the team's own templates too (a step's title on the
        # rep's list is its subject as the buyer reads it).
        "account": {"name": deal.account.name},
        "org": {"name": settings.ORG_NAME},
    }


def _contact_fields(contact) -> dict:
    return {
        "name": contact.name if contact else "",
        "first_name": (contact.name.split() or [""])[0] if contact else "",
        "title": contact.title if contact else "",
    }


def _step_context(followup: FollowUp) -> Context:
    """Only plain values reach an admin-written template (no model objects to walk)."""
    deal = followup.deal
    # An owner's task names the deal's (first) contact so the rep knows whom to call.
    contact = followup.contact or deal.contacts.order_by("pk").first()
    return Context({**_deal_and_owner(deal), "contact": _contact_fields(contact)}, autoescape=False)


def render_step(followup: FollowUp, extra: dict | None = None) -> tuple[str, str]:
    """The step's subject and plain-text body with the deal's and contact's fields (and `extra`)."""
    engine = Engine.get_default()
    context = _step_context(followup)
    context.update(extra or {})
    subject = engine.from_string(followup.step.subject).render(context)
    body = engine.from_string(followup.step.body).render(context)
    return " ".join(subject.split()), body.strip()


@lru_cache(maxsize=256)
def _subject_template(subject: str):
    """A step's subject compiled once per text (a close renders it for every contact)."""
    return Engine.get_default().from_string(subject)


def followup_titles(deal, first_contact=None):
    """The lines the rep's list shows for one closure's follow-ups, as `title(step, contact)`
    (step None: the reopen reminder; contact None: the deal's first contact). The deal's and
    owner's fields are gathered once, and each (step, contact) title rendered once."""
    shared = _deal_and_owner(deal)
    rendered: dict[tuple, str] = {}

    def title(step, contact=None) -> str:
        if step is None:
            return f"Revisit {deal.name}"[:200]
        contact = contact or first_contact
        key = (step.subject, contact.pk if contact else None)
        if key not in rendered:
            context = Context({**shared, "contact": _contact_fields(contact)}, autoescape=False)
            subject = _subject_template(step.subject).render(context)
            rendered[key] = " ".join(subject.split())[:200]
        return rendered[key]

    return title


def message_id_for(kind: str, pk: int) -> str:
    # One Message-ID per row: a receiving server can spot a rare resend as the same mail.
    return f"<{kind}-{pk}@{urlsplit(settings.SITE_URL).hostname or 'closedlost'}>"


def buyer_message(
    *, to: str, subject: str, body: str, context: dict, template: str, headers: dict, reply_to=None
) -> EmailMultiAlternatives:
    """An e-mail to a buyer: text and HTML drawn from `context` (the allowed values, see
    followups.buyer_templates) and the rendered subject and body, nothing else."""
    if not to:
        raise NotSendable("The contact has no e-mail address.")
    if not context.get("opt_out_url"):
        raise NotSendable("The opt-out link would be empty.")
    values = {**context, "subject": subject, "body": body}
    unsubscribe = {"List-Unsubscribe": f"<{context['opt_out_url']}>"}
    unsubscribe["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", values),
        to=[to],
        reply_to=reply_to,
        headers={**headers, **unsubscribe},
        connection=get_connection(timeout=SMTP_TIMEOUT),
    )
    message.attach_alternative(render_to_string(f"{template}.html", values), "text/html")
    return message


def opt_out_url_for(email: str) -> str:
    from followups.services import opt_out_token

    return absolute(reverse("followups:opt-out", args=[opt_out_token(email)])) if email else ""


def contact_message(followup: FollowUp, extra: dict | None = None) -> EmailMultiAlternatives:
    """A nurture step e-mailed to the deal's contact, from the allowed values only.

    NotSendable when it must not go out as it would render: no address, a broken or reaching
    template, or a {{ survey_url }} that would be empty."""
    deal, contact, step = followup.deal, followup.contact, followup.step
    if extra is None:  # a preview brings its own (and writes nothing)
        extra = {}
        for provider in step_context_providers:
            extra.update(provider(followup))
    if uses_placeholder(f"{step.subject}\n{step.body}", "survey_url") and not extra.get("survey_url"):
        raise NotSendable(
            "{{ survey_url }} would be empty: this close gets no survey link (no standard reason, "
            "reopened, or the contact opted out)."
        )
    context = buyer_context(
        contact_name=contact.name,
        account_name=deal.account.name,
        owner=deal.owner,
        survey_url=extra.get("survey_url", ""),
        opt_out_url=opt_out_url_for(contact.email),
    )
    subject = " ".join(render_buyer_template(step.subject, context).split())
    body = render_buyer_template(step.body, context).strip()
    return buyer_message(
        to=contact.email,
        subject=subject,
        body=body,
        context=context,
        template="followups/email/contact_email",
        headers={"Message-ID": message_id_for("followup", followup.pk)},
        reply_to=[deal.owner.email] if deal.owner.email else None,
    )


def followup_message(followup: FollowUp) -> EmailMultiAlternatives | None:
    """The email for one follow-up, or None when there is nobody to write to (an owner without
    an address: the task stays on their list). A contact's e-mail: see contact_message."""
    if followup.kind == FollowUpKind.CONTACT_EMAIL:
        return contact_message(followup)
    deal = followup.deal
    context = {
        "followup": followup,
        "deal": deal,
        "deal_url": absolute(reverse("deals:detail", args=[deal.pk])),
        "reopen_url": absolute(reverse("deals:reopen", args=[deal.pk])),
        "followups_url": absolute(reverse("followups:mine")),
    }
    to = followup.assignee.email
    if followup.kind == FollowUpKind.OWNER_TASK:
        subject, body = render_step(followup)
        context.update(body=body)
        template = "owner_task"
    else:
        subject = f"Time to revisit {deal.name}"
        template = "reopen_reminder"
    if not to:
        return None
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"followups/email/{template}.txt", context),
        to=[to],
        headers={"Message-ID": message_id_for("followup", followup.pk)},
        connection=get_connection(timeout=SMTP_TIMEOUT),
    )
    message.attach_alternative(render_to_string(f"followups/email/{template}.html", context), "text/html")
    return message


def digest_message(*, user, followups: list[FollowUp], now) -> EmailMultiAlternatives:
    """A rep's daily list: what is overdue and what is due today, with links."""
    start = timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))
    context = {
        "user": user,
        "overdue": [f for f in followups if f.due_at < start],
        "today": [f for f in followups if f.due_at >= start],
        "followups_url": absolute(reverse("followups:mine")),
        "site_url": settings.SITE_URL.rstrip("/"),
    }
    count = len(followups)
    message = EmailMultiAlternatives(
        subject=f"Your follow-ups today: {count} to do",
        body=render_to_string("followups/email/digest.txt", context),
        to=[user.email],
        connection=get_connection(timeout=SMTP_TIMEOUT),
    )
    message.attach_alternative(render_to_string("followups/email/digest.html", context), "text/html")
    return message
