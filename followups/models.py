"""Nurture sequences and the follow-ups a lost or no-decision close schedules.

The due date lives here, in the database; Celery only carries it out (followups.tasks).
State changes go through followups.services.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from closedlost.dbrules import append_only
from deals.models import Closure, Contact, Deal
from reasons.models import Reason


class NurtureSequence(models.Model):
    """A named, ordered set of steps run after a deal is lost (or ends in no decision)."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(
        default=True, help_text="Inactive sequences are not offered on the close form."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StepAction(models.TextChoices):
    OWNER_TASK = "owner_task", "Task for the deal owner (in-app + email)"
    CONTACT_EMAIL = "contact_email", "Email to the deal's contact"


class NurtureStep(models.Model):
    """One step: N days after the close, a task for the owner or an email to the contact.

    Subject and body are Django templates. A task for the owner sees the deal, contact and owner;
    an e-mail to the contact only the allowed placeholders (followups.buyer_templates), checked
    here whenever the step is validated (forms, the admin, followups.setup).
    """

    sequence = models.ForeignKey(NurtureSequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=1)
    days_after_close = models.PositiveIntegerField()
    action = models.CharField(max_length=16, choices=StepAction.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(
        help_text="Plain text. E-mails to the contact: {{ contact.first_name }}, {{ contact.name }}, "
        "{{ account.name }}, {{ owner.name }}, {{ owner.first_name }}, {{ owner.email }}, {{ org.name }}, "
        "{{ survey_url }}, {{ opt_out_url }}. Tasks for the owner may also use {{ deal.name }} …"
    )
    # A step that follow-ups were made from is never deleted (they name it): it is deactivated,
    # and new closes skip it (followups.setup.nurture_step_remove).
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sequence_id", "position", "days_after_close"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="nurturestep_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence}: day {self.days_after_close} ({self.get_action_display()})"

    @property
    def is_buyer_facing(self) -> bool:
        return self.action == StepAction.CONTACT_EMAIL

    def clean(self):
        """An e-mail to the contact names only the allowed placeholders (the error lists them)."""
        from django.core.exceptions import ValidationError

        from followups.buyer_templates import buyer_template_check

        if not self.is_buyer_facing:
            return
        errors = {}
        for name in ("subject", "body"):
            check = buyer_template_check(getattr(self, name) or "")
            if not check.ok:
                errors[name] = check.message()
        if errors:
            raise ValidationError(errors)

    def buyer_template_problems(self) -> str:
        """What a stored e-mail step names beyond the allowed placeholders ("" when nothing)."""
        from followups.buyer_templates import buyer_template_check

        if not self.is_buyer_facing:
            return ""
        checks = [buyer_template_check(self.subject), buyer_template_check(self.body)]
        return " ".join(dict.fromkeys(c.message() for c in checks if not c.ok))


class ReasonSequenceDefault(models.Model):
    """The sequence a reason starts by default (kept here so the reasons app stays untouched)."""

    reason = models.OneToOneField(Reason, on_delete=models.CASCADE, related_name="default_nurture")
    sequence = models.ForeignKey(NurtureSequence, on_delete=models.PROTECT, related_name="reason_defaults")

    class Meta:
        ordering = ["reason__label"]

    def __str__(self) -> str:
        return f"{self.reason} → {self.sequence}"


class ClosureSequence(models.Model):
    """Which nurture sequence a lost / no-decision closure got (none when the rep skipped it).

    One row per such closure: the dashboards read "recovery by nurture sequence" from here.
    """

    class Source(models.TextChoices):
        REP = "rep", "Chosen by the rep"
        REASON_DEFAULT = "reason_default", "The reason's default"
        SKIPPED = "skipped", "Skipped by the rep"
        NONE = "none", "No default for the reason"

    closure = models.OneToOneField(Closure, on_delete=models.PROTECT, related_name="nurture")
    sequence = models.ForeignKey(
        NurtureSequence, on_delete=models.PROTECT, null=True, blank=True, related_name="closures"
    )
    source = models.CharField(max_length=16, choices=Source.choices)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=["rep", "reason_default"], sequence__isnull=False)
                | Q(source__in=["skipped", "none"], sequence__isnull=True),
                name="closuresequence_sequence_matches_source",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.closure_id}: {self.sequence or 'no sequence'}"


class ContactOptOut(models.Model):
    """An address that asked for no more nurture emails; honoured for every later step."""

    email = models.EmailField(unique=True, help_text="Stored lower-case.")
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    opted_out_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-opted_out_at"]

    def __str__(self) -> str:
        return self.email


class FollowUpKind(models.TextChoices):
    OWNER_TASK = "owner_task", "Nurture task"
    CONTACT_EMAIL = "contact_email", "Nurture email"
    REOPEN_REMINDER = "reopen_reminder", "Reopen reminder"


class FollowUpState(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Being sent"
    SENT = "sent", "Sent"
    SNOOZED = "snoozed", "Snoozed"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


# Rows the dispatcher claims when due.
DUE_STATES = [FollowUpState.PENDING, FollowUpState.SNOOZED]
# Rows someone may still act on (a nurture email that went out is finished, see FollowUp.is_open).
OPEN_STATES = [
    FollowUpState.PENDING,
    FollowUpState.SNOOZED,
    FollowUpState.QUEUED,
    FollowUpState.SENT,
    FollowUpState.FAILED,
]
OPEN_Q = Q(state__in=OPEN_STATES) & ~Q(kind=FollowUpKind.CONTACT_EMAIL, state=FollowUpState.SENT)


class FollowUp(models.Model):
    """A scheduled piece of work on a lost or no-decision deal.

    pending/snoozed --(due: dispatcher claims)--> queued --(worker)--> sent | failed.
    An owner's task stays on their list once sent until it is done (or snoozed again).
    """

    deal = models.ForeignKey(Deal, on_delete=models.PROTECT, related_name="followups")
    closure = models.ForeignKey(Closure, on_delete=models.PROTECT, related_name="followups")
    sequence = models.ForeignKey(
        NurtureSequence, on_delete=models.PROTECT, null=True, blank=True, related_name="followups"
    )
    step = models.ForeignKey(NurtureStep, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=16, choices=FollowUpKind.choices)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="followups")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # What the rep's list shows (the step's subject, rendered when scheduled).
    title = models.CharField(max_length=200, blank=True)
    due_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=FollowUpState.choices, default=FollowUpState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_reason = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=FollowUpKind.CONTACT_EMAIL, contact__isnull=False)
                | (~Q(kind=FollowUpKind.CONTACT_EMAIL) & Q(contact__isnull=True)),
                name="followup_contact_iff_contact_email",
            ),
            models.CheckConstraint(
                condition=Q(kind=FollowUpKind.REOPEN_REMINDER, step__isnull=True)
                | (~Q(kind=FollowUpKind.REOPEN_REMINDER) & Q(step__isnull=False, sequence__isnull=False)),
                name="followup_step_iff_nurture",
            ),
            models.CheckConstraint(
                condition=~Q(state=FollowUpState.QUEUED) | Q(claimed_at__isnull=False),
                name="followup_queued_has_claimed_at",
            ),
            # A close schedules each step once (per contact) and one reopen reminder.
            models.UniqueConstraint(
                fields=["closure", "step", "contact"],
                condition=Q(contact__isnull=False),
                name="followup_unique_closure_step_contact",
            ),
            models.UniqueConstraint(
                fields=["closure", "step"],
                condition=Q(contact__isnull=True, step__isnull=False),
                name="followup_unique_closure_step",
            ),
            models.UniqueConstraint(
                fields=["closure"],
                condition=Q(kind="reopen_reminder"),
                name="followup_one_reminder_per_closure",
            ),
        ]
        indexes = [
            # The dispatcher's claim: due rows only, in due order (a small partial index).
            models.Index(
                fields=["due_at", "id"], name="followup_due", condition=Q(state__in=["pending", "snoozed"])
            ),
            # Rows handed out whose worker never finished (lost message, killed worker).
            models.Index(fields=["claimed_at"], name="followup_queued", condition=Q(state="queued")),
            models.Index(fields=["assignee", "state", "due_at"], name="followup_assignee_state_due"),
            models.Index(fields=["deal", "state"], name="followup_deal_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.deal} due {self.due_at:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES and not (
            self.kind == FollowUpKind.CONTACT_EMAIL and self.state == FollowUpState.SENT
        )

    @property
    def is_owner_work(self) -> bool:
        """A task or reminder for the owner (done by them), not an email to the buyer."""
        return self.kind != FollowUpKind.CONTACT_EMAIL

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at < timezone.now()


class DigestSent(models.Model):
    """One daily digest per rep and day: a repeated task sends it once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="digestsent_one_per_user_day")]

    def __str__(self) -> str:
        return f"{self.user} {self.day}"


class NurtureChange(models.Model):
    """Append-only history of the admins' changes to nurture steps (who, when, before, after).

    Written only by followups.setup.nurture_change; UPDATE and DELETE are refused here and, on
    PostgreSQL, by a trigger."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    # A sequence nobody used may be removed: its rows keep its id and name (and the removal row its
    # steps and reasons), so the history outlives it. No database key, so no row is rewritten then.
    sequence = models.ForeignKey(
        NurtureSequence,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="changes",
    )
    sequence_name = models.CharField(max_length=120, blank=True)
    step_id = models.PositiveIntegerField(null=True, blank=True)
    # sequence_created/_changed/_deactivated/_removed, step_created/_changed/_deactivated/
    # _reactivated/_removed, reasons_changed
    what = models.CharField(max_length=24)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        triggers = [append_only("nurturechange_append_only")]

    WHAT = {
        "sequence_created": "Sequence added",
        "sequence_changed": "Sequence changed",
        "sequence_deactivated": "Sequence deactivated",
        "sequence_reactivated": "Sequence reactivated",
        "sequence_removed": "Sequence removed",
        "step_created": "Step added",
        "step_changed": "Step changed",
        "step_deactivated": "Step deactivated",
        "step_reactivated": "Step reactivated",
        "step_removed": "Step removed",
        "reasons_changed": "Reasons changed",
    }

    def __str__(self) -> str:
        return f"{self.what} {self.sequence_name} by {self.actor_id} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("NurtureChange rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("NurtureChange rows are append-only.")

    @property
    def what_display(self) -> str:
        return self.WHAT.get(self.what, self.what)
