"""Alert rules an admin sets, the history of their changes, and each rule's firings.

A rule is checked once per period (the last full week or month); its `AlertFiring` row for that
period is unique, so a check that runs twice (two beats, a worker that died) fires it once. Each
firing has one `AlertDelivery` per destination (a recipient's e-mail, the webhook), handed to the
worker through the outbox.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import SecretField
from reasons.models import Competitor, Reason
from teams.models import Team


class RuleKind(models.TextChoices):
    FINDING = "finding", "A significant finding"
    WIN_RATE_DROP = "win_rate_drop", "Win rate drop"
    BACKLOG = "backlog", "“Needs a reason” backlog"


class Subject(models.TextChoices):
    COMPETITOR = "competitor", "Competitor"
    REASON = "reason", "Reason"
    TEAM = "team", "Team"


class Period(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class WebhookKind(models.TextChoices):
    NONE = "", "No webhook"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"


class AlertRule(models.Model):
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=RuleKind.choices)
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.WEEKLY)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The scope: one team, or the whole organisation when empty.",
    )  # fmt: skip
    subject = models.CharField(max_length=12, choices=Subject.choices, blank=True)
    competitor = models.ForeignKey(
        Competitor, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.ForeignKey(Reason, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    threshold = models.PositiveIntegerField(
        null=True, blank=True, help_text="Percentage points (win-rate drop) or deals (backlog)."
    )
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    webhook_kind = models.CharField(max_length=8, choices=WebhookKind.choices, blank=True)
    webhook_url = SecretField(max_length=500, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                name="alertrule_subject_fits_kind",
                condition=(
                    Q(kind="finding", subject="competitor", competitor__isnull=False, reason__isnull=True)
                    | Q(kind="finding", subject="reason", reason__isnull=False, competitor__isnull=True)
                    | Q(
                        kind="finding",
                        subject="team",
                        team__isnull=False,
                        reason__isnull=True,
                        competitor__isnull=True,
                    )
                    | (~Q(kind="finding") & Q(subject="", competitor__isnull=True, reason__isnull=True))
                ),
            ),  # fmt: skip
            models.CheckConstraint(
                name="alertrule_threshold_fits_kind",
                condition=(
                    Q(kind="finding", threshold__isnull=True)
                    | (~Q(kind="finding") & Q(threshold__isnull=False, threshold__gt=0))
                ),
            ),
            models.CheckConstraint(
                name="alertrule_webhook_kind_with_address",
                condition=Q(webhook_kind="", webhook_url="") | (~Q(webhook_kind="") & ~Q(webhook_url="")),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def watches(self) -> str:
        """What the rule watches, in words (reads its competitor, reason or team)."""
        if self.kind == RuleKind.FINDING:
            about = {
                Subject.COMPETITOR: lambda: f"competitor {self.competitor.name}",
                Subject.REASON: lambda: f"the reason “{self.reason.label}”",
                Subject.TEAM: lambda: "anything in the team",
            }[self.subject]()
            return f"A significant finding about {about}"
        if self.kind == RuleKind.WIN_RATE_DROP:
            return f"The win rate drops by more than {self.threshold} points, significantly"
        return f"More than {self.threshold} lost deals wait for a reason"

    @property
    def scope(self) -> str:
        return self.team.name if self.team_id else "Whole organisation"


class AlertRuleEvent(models.Model):
    """Append-only history of the rules: who made, changed, paused or resumed which, and what."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        CHANGED = "changed", "Changed"
        PAUSED = "paused", "Paused"
        RESUMED = "resumed", "Resumed"

    rule = models.ForeignKey(AlertRule, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(max_length=10, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    changes = models.JSONField(default=list, help_text="The fields changed (never the webhook address).")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.rule} {self.action}"


class AlertFiring(models.Model):
    """A rule fired for one period: at most once (the unique constraint holds it)."""

    rule = models.ForeignKey(AlertRule, on_delete=models.PROTECT, related_name="firings")
    period_start = models.DateField()
    period_end = models.DateField()
    fired_at = models.DateTimeField(default=timezone.now)
    text = models.TextField()
    lines = models.JSONField(default=list, help_text="The findings or figures behind it, one line each.")
    link = models.CharField(max_length=1000, blank=True, help_text="Path of the deals or findings behind it.")

    class Meta:
        ordering = ["-fired_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "period_start"], name="alertfiring_once_per_rule_period"),
            models.CheckConstraint(
                name="alertfiring_period_order", condition=Q(period_end__gte=models.F("period_start"))
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} for {self.period_start}"


class AlertDelivery(models.Model):
    """One destination of a firing: a recipient's e-mail or the rule's webhook."""

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Microsoft Teams"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting"
        SENT = "sent", "Delivered"
        FAILED = "failed", "Failed"

    firing = models.ForeignKey(AlertFiring, on_delete=models.PROTECT, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["firing", "user"],
                condition=Q(channel="email"),
                name="alertdelivery_one_email_per_user",
            ),
            models.UniqueConstraint(
                fields=["firing"], condition=~Q(channel="email"), name="alertdelivery_one_webhook_per_firing"
            ),
            models.CheckConstraint(
                name="alertdelivery_email_has_user",
                condition=Q(channel="email", user__isnull=False)
                | (~Q(channel="email") & Q(user__isnull=True)),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.firing} → {self.channel}"
