"""Delivering a firing: one e-mail per recipient and one POST to the rule's Slack or Microsoft
Teams incoming webhook, each an outbox item (kinds `alerts.email` and `alerts.webhook`).

A delivery already made is not made again (a copy of the task, a replay). A delivery that fails
raises: the outbox tries it again with growing waits (OUTBOX_RETRY_BACKOFF) up to
ALERTS_MAX_ATTEMPTS times in all, then keeps it failed for good, for an admin to replay. A webhook
that Slack or Teams says is gone (revoked, removed, its channel archived: 403, 404, 410, or 400
`invalid_token` / `no_service`) fails for good at once, its error on the alerts page; 429 and 5xx
are tried again. The
webhook address is checked again at each POST (crm.http: https and public, unless the host is in
ALERTS_WEBHOOK_ALLOWED_HOSTS) and never appears in an error or a log line.
"""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Case, F, TextField, Value, When
from django.template.loader import render_to_string
from django.utils import timezone

from alerts.models import AlertDelivery, AlertFiring
from crm.http import CrmHttpError, CrmRequestFailed, crm_request
from outbox import kinds

EMAIL_KIND = "alerts.email"
WEBHOOK_KIND = "alerts.webhook"
USER_AGENT = "closedlost-alerts"


class AlertDeliveryFailed(Exception):
    """The mail server or the webhook did not take the alert (the outbox tries again)."""


class AlertWebhookGone(kinds.FailedForGood):
    """Slack or Teams says the webhook itself is gone: no later try can succeed."""


# Answers of a revoked or removed incoming webhook (Slack: 403 invalid_token, 404 no_service,
# 410 channel_is_archived, some 400s naming the same; Teams: 403, 404, 410 for a removed connector).
GONE_STATUSES = {403, 404, 410}
GONE_CODES = ("invalid_token", "no_service")


def _gone(exc: CrmRequestFailed) -> bool:
    if not isinstance(exc, CrmHttpError):
        return False
    return exc.status in GONE_STATUSES or (exc.status == 400 and any(c in exc.detail for c in GONE_CODES))


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path if path.startswith("/") else path


def _title(firing: AlertFiring) -> str:
    return f"Alert “{firing.rule.name}”: {firing.period_start:%-d %b} – {firing.period_end:%-d %b %Y}"


def email_message(delivery: AlertDelivery) -> EmailMultiAlternatives:
    firing = delivery.firing
    context = {
        "firing": firing,
        "rule": firing.rule,
        "title": _title(firing),
        "user": delivery.user,
        "link": absolute(firing.link) if firing.link else "",
        "rule_url": absolute(f"/alerts/{firing.rule_id}/"),
    }
    message = EmailMultiAlternatives(
        subject=_title(firing),
        body=render_to_string("alerts/email/alert.txt", context),
        to=[delivery.user.email],
    )
    message.attach_alternative(render_to_string("alerts/email/alert.html", context), "text/html")
    return message


def slack_payload(firing: AlertFiring) -> dict:
    """Slack's incoming webhook: `text` (shown in notifications) and the same as blocks."""
    lines = "\n".join(f"• {line}" for line in firing.lines)
    link = absolute(firing.link) if firing.link else ""
    text = "\n".join(
        part
        for part in (f"*{_title(firing)}*", firing.text, lines, link and f"<{link}|Open in closedlost>")
        if part
    )
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _title(firing)[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": firing.text}},
    ]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": lines[:3000]}})
    if link:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open in closedlost"}, "url": link}
        blocks.append({"type": "actions", "elements": [button]})
    return {"text": text, "blocks": blocks}


def teams_payload(firing: AlertFiring) -> dict:
    """Microsoft Teams' incoming webhook: a MessageCard."""
    card = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": _title(firing),
        "themeColor": "B42318",
        "title": _title(firing),
        "text": firing.text,
    }
    if firing.lines:
        card["sections"] = [{"text": "<br>".join(firing.lines)}]
    if firing.link:
        target = [{"os": "default", "uri": absolute(firing.link)}]
        card["potentialAction"] = [{"@type": "OpenUri", "name": "Open in closedlost", "targets": target}]
    return card


PAYLOADS = {AlertDelivery.Channel.SLACK: slack_payload, AlertDelivery.Channel.TEAMS: teams_payload}


def _send(delivery: AlertDelivery) -> None:
    if delivery.channel == AlertDelivery.Channel.EMAIL:
        email_message(delivery).send()
        return
    rule = delivery.firing.rule
    try:
        crm_request(
            method="POST",
            url=rule.webhook_url,
            body=PAYLOADS[delivery.channel](delivery.firing),
            auth={},
            allowed=settings.ALERTS_WEBHOOK_ALLOWED_HOSTS,
            user_agent=USER_AGENT,
            timeout=settings.ALERTS_WEBHOOK_TIMEOUT,
        )
    except CrmRequestFailed as exc:
        if _gone(exc):
            raise AlertWebhookGone(
                f"The {delivery.get_channel_display()} webhook is revoked or removed"
                f" (HTTP {exc.status} {exc.detail[:60].strip()}): set a new webhook address on the rule,"
                " then replay the delivery on the outbox page."
            ) from exc
        raise AlertDeliveryFailed(
            f"The {delivery.get_channel_display()} webhook did not take it: {exc}"
        ) from exc


def alert_deliver(*, delivery_id: int) -> None:
    """Make one delivery unless it was made; raises AlertDeliveryFailed when it could not be."""
    delivery = (
        AlertDelivery.objects.select_related("firing__rule", "user")
        .filter(pk=delivery_id, state=AlertDelivery.State.PENDING)
        .first()
    )
    if delivery is None:
        return  # made already, failed for good, or gone
    AlertDelivery.objects.filter(pk=delivery_id).update(attempts=F("attempts") + 1)
    try:
        _send(delivery)
    except AlertWebhookGone as exc:
        AlertDelivery.objects.filter(pk=delivery_id).update(last_error=str(exc)[:1000])
        raise
    except Exception as exc:
        error = str(exc) if isinstance(exc, AlertDeliveryFailed) else f"{type(exc).__name__}: {exc}"
        AlertDelivery.objects.filter(pk=delivery_id).update(last_error=error[:1000])
        raise AlertDeliveryFailed(error[:1000]) from exc
    AlertDelivery.objects.filter(pk=delivery_id, state=AlertDelivery.State.PENDING).update(
        state=AlertDelivery.State.SENT, sent_at=timezone.now(), last_error=""
    )


def alert_handoff(delivery_id: int) -> None:
    """The outbox's handler for both kinds: None when finished; raises to be tried again."""
    alert_deliver(delivery_id=delivery_id)


def alert_handoff_failed(delivery_id: int, error: str) -> None:
    """Failed for good: the delivery keeps its own last error (the plain words the alerts page
    shows), or the outbox's when it has none."""
    AlertDelivery.objects.filter(pk=delivery_id, state=AlertDelivery.State.PENDING).update(
        state=AlertDelivery.State.FAILED,
        last_error=Case(
            When(last_error="", then=Value(error[:1000])), default=F("last_error"), output_field=TextField()
        ),
    )


def alert_handoff_replay(delivery_id: int) -> None:
    AlertDelivery.objects.filter(pk=delivery_id, state=AlertDelivery.State.FAILED).update(
        state=AlertDelivery.State.PENDING, last_error=""
    )


def alerts_failed_count(*, email: bool) -> int:
    failed = AlertDelivery.objects.filter(state=AlertDelivery.State.FAILED)
    if email:
        return failed.filter(channel=AlertDelivery.Channel.EMAIL).count()
    return failed.exclude(channel=AlertDelivery.Channel.EMAIL).count()


def register() -> None:
    for name, label, email in (
        (EMAIL_KIND, "Alert e-mails", True),
        (WEBHOOK_KIND, "Alert webhooks (Slack, Teams)", False),
    ):
        kinds.register(
            name,
            label=label,
            handle=alert_handoff,
            failures=partial(alerts_failed_count, email=email),
            failures_url="alerts:index",
            attempts=settings.ALERTS_MAX_ATTEMPTS,
            on_failed=alert_handoff_failed,
            on_replay=alert_handoff_replay,
        )
