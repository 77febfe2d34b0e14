"""Alert rules: made, changed, paused and resumed only here, each with its history row.

The rules a rule must keep (also held by the database where it can):
- a finding rule names its subject: a competitor, a reason, or a team (then its scope);
- a win-rate drop (percentage points, 1–100) or backlog rule (deals) has a threshold above 0;
- e-mail recipients are active users who may see the scope: admins, or the scoped team's managers;
- a webhook address is checked like a CRM's (https and public, unless an operator trusts its host
  in ALERTS_WEBHOOK_ALLOWED_HOSTS) and kept encrypted; at least one destination.
Errors name the field (AlertRuleError.field).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from alerts.models import AlertRule, AlertRuleEvent, RuleKind, Subject, WebhookKind
from crm.addresses import resolve_checked
from teams.models import Membership, User

FIELDS = ("name", "kind", "period", "team", "subject", "competitor", "reason", "threshold", "webhook_kind")


class AlertRuleError(Exception):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def validate_webhook_address(url: str, kind: str) -> None:
    """A Slack or Teams incoming-webhook address: https and public (or a host the operator
    trusts), checked like a CRM's API address. Raises AlertRuleError on `webhook_url`."""
    host = (urlsplit(url).hostname or "").lower()
    allowed = {h.lower() for h in settings.ALERTS_WEBHOOK_ALLOWED_HOSTS}
    what = f"the {dict(WebhookKind.choices)[kind]} webhook address" if kind else "the webhook address"
    example = "https://hooks.slack.com/services/…" if kind == WebhookKind.SLACK else "https://…"
    try:
        if host and host in allowed and urlsplit(url).scheme in ("http", "https"):
            return
        resolve_checked(url, allowed=(), what=what, example=example, setting="ALERTS_WEBHOOK_ALLOWED_HOSTS")
    except ValidationError as exc:
        raise AlertRuleError("webhook_url", " ".join(exc.messages)) from exc


def _may_see(user: User, team_id: int | None) -> bool:
    if user.is_revops_admin:
        return True
    if team_id is None:
        return False
    return Membership.objects.filter(user=user, team_id=team_id, role=Membership.Role.MANAGER).exists()


def _check(fields: dict, recipients: list[User], webhook_url: str) -> None:
    kind = fields["kind"]
    if not fields.get("name", "").strip():
        raise AlertRuleError("name", "Give the alert a name.")
    if kind not in RuleKind.values:
        raise AlertRuleError("kind", "Choose what the alert watches.")
    if kind == RuleKind.FINDING:
        subject = fields.get("subject") or ""
        if subject not in Subject.values:
            raise AlertRuleError(
                "subject", "Choose what the finding must be about: a competitor, a reason or a team."
            )
        if subject == Subject.COMPETITOR and fields.get("competitor") is None:
            raise AlertRuleError("competitor", "Choose the competitor.")
        if subject == Subject.REASON and fields.get("reason") is None:
            raise AlertRuleError("reason", "Choose the reason.")
        if subject == Subject.TEAM and fields.get("team") is None:
            raise AlertRuleError("team", "Choose the team the findings must be about.")
        fields["threshold"] = None
        if subject != Subject.COMPETITOR:
            fields["competitor"] = None
        if subject != Subject.REASON:
            fields["reason"] = None
    else:
        fields["subject"], fields["competitor"], fields["reason"] = "", None, None
        threshold = fields.get("threshold")
        if threshold is None or threshold < 1:
            raise AlertRuleError("threshold", "Enter a whole number above 0.")
        if kind == RuleKind.WIN_RATE_DROP and threshold > 100:
            raise AlertRuleError("threshold", "A win-rate drop is at most 100 percentage points.")
    team = fields.get("team")
    for user in recipients:
        if not user.is_active:
            raise AlertRuleError("recipients", f"{user.display_name} is deactivated.")
        if not _may_see(user, team.pk if team else None):
            where = f"team {team.name}" if team else "the whole organisation"
            raise AlertRuleError(
                "recipients",
                f"{user.display_name} may not see the figures of {where}: choose admins or its managers.",
            )
    webhook_kind = fields.get("webhook_kind") or ""
    if webhook_kind not in WebhookKind.values:
        raise AlertRuleError("webhook_kind", "Choose Slack or Microsoft Teams.")
    if webhook_kind and not webhook_url:
        raise AlertRuleError("webhook_url", "Enter the incoming-webhook address.")
    if webhook_url:
        if not webhook_kind:
            raise AlertRuleError("webhook_kind", "Choose whether the address is Slack's or Microsoft Teams'.")
        validate_webhook_address(webhook_url, webhook_kind)
    if not recipients and not webhook_url:
        raise AlertRuleError("recipients", "Choose at least one recipient or a webhook address.")


def alert_rule_create(*, actor: User, recipients: list[User], webhook_url: str = "", **fields) -> AlertRule:
    fields = {key: fields.get(key) for key in FIELDS} | {"period": fields.get("period") or "weekly"}
    fields["webhook_kind"] = fields["webhook_kind"] or ""
    _check(fields, recipients, webhook_url.strip())
    with transaction.atomic():
        rule = AlertRule.objects.create(created_by=actor, webhook_url=webhook_url.strip(), **fields)
        rule.recipients.set(recipients)
        AlertRuleEvent.objects.create(rule=rule, action=AlertRuleEvent.Action.CREATED, actor=actor)
    return rule


def _describe(value) -> str:
    if value is None or value == "":
        return "—"
    return str(value)


def alert_rule_update(
    *, rule: AlertRule, actor: User, recipients: list[User], webhook_url: str | None = None, **fields
) -> AlertRule:
    """Change a rule; `webhook_url` None keeps the stored address, "" clears it."""
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
        fields = {key: fields.get(key, getattr(rule, key)) for key in FIELDS}
        fields["webhook_kind"] = fields["webhook_kind"] or ""
        address = rule.webhook_url if webhook_url is None else webhook_url.strip()
        _check(fields, recipients, address)
        changes = [
            {"field": key, "from": _describe(getattr(rule, key)), "to": _describe(value)}
            for key, value in fields.items()
            if getattr(rule, key) != value
        ]
        before = set(rule.recipients.values_list("pk", flat=True))
        if before != {user.pk for user in recipients}:
            changes.append({"field": "recipients", "from": len(before), "to": len(recipients)})
        if address != rule.webhook_url:
            changes.append({"field": "webhook_url", "from": "(hidden)", "to": "(hidden)" if address else "—"})
        for key, value in fields.items():
            setattr(rule, key, value)
        rule.webhook_url = address
        rule.save()
        rule.recipients.set(recipients)
        if changes:
            AlertRuleEvent.objects.create(
                rule=rule, action=AlertRuleEvent.Action.CHANGED, actor=actor, changes=changes
            )
    return rule


def alert_rule_set_active(*, rule: AlertRule, actor: User, active: bool) -> AlertRule:
    """Pause or resume a rule (a conditional update: pausing twice records one event)."""
    with transaction.atomic():
        changed = AlertRule.objects.filter(pk=rule.pk, active=not active).update(active=active)
        if changed:
            action = AlertRuleEvent.Action.RESUMED if active else AlertRuleEvent.Action.PAUSED
            AlertRuleEvent.objects.create(rule=rule, action=action, actor=actor)
    rule.refresh_from_db()
    return rule
