"""Buyer feedback surveys: what we ask a lost buyer, what they answered, and the wording they see.

A Survey is one link for one contact about one closure (several contacts: several surveys); its
row is also the e-mail's hand-off intent (state + queued_at), re-published by beat until the
worker marks it sent. A response is a row of its own so that the database holds "one response
per link" (a one-to-one key).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from closedlost.dbrules import append_only
from deals.models import Closure, Contact, Deal
from followups.buyer_templates import validate_buyer_template
from reasons.models import Competitor, Reason, ReasonCategory

DEFAULT_INTRO = (
    "Thank you for considering us. You decided not to go ahead, and that is fine: we would like to "
    "learn why. These few questions take about two minutes; only the first and the last question "
    "need an answer."
)
DEFAULT_EMAIL_SUBJECT = "Two minutes on your decision?"
DEFAULT_EMAIL_BODY = (
    "Hi {{ contact.first_name }},\n\n"
    "Thank you for the time you spent looking at our offer for {{ account.name }}. You decided not to "
    "go ahead, and we would like to learn why: a few short questions, about two minutes.\n\n"
    "{{ survey_url }}\n\n"
    "Your answers go to the people who worked with you and help us improve.\n"
)


class SurveySettings(models.Model):
    """The survey's texts and when it goes out on its own; one row (pk 1), edited in the admin."""

    intro = models.TextField(default=DEFAULT_INTRO, help_text="Shown at the top of the survey page.")
    email_subject = models.CharField(
        max_length=200, default=DEFAULT_EMAIL_SUBJECT, validators=[validate_buyer_template]
    )
    email_body = models.TextField(
        default=DEFAULT_EMAIL_BODY,
        validators=[validate_buyer_template],
        help_text="Plain text. Placeholders: {{ contact.first_name }}, {{ contact.name }}, "
        "{{ account.name }}, {{ owner.name }}, {{ owner.first_name }}, {{ owner.email }}, {{ org.name }}, "
        "{{ survey_url }} (added at the end when missing), {{ opt_out_url }}.",
    )
    loss_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=7,
        help_text="Send on its own this many days after a loss (empty: only when a rep sends it).",
    )
    no_decision_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=None,
        help_text="Send on its own this many days after a No Decision (empty: off, the default).",
    )

    class Meta:
        verbose_name = "survey settings"
        verbose_name_plural = "survey settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="surveysettings_single_row")]

    def __str__(self) -> str:
        return "Survey settings"

    def buyer_template_problems(self) -> str:
        """What the stored e-mail names beyond the allowed placeholders ("" when nothing)."""
        from followups.buyer_templates import buyer_template_check

        checks = [buyer_template_check(self.email_subject), buyer_template_check(self.email_body)]
        return " ".join(dict.fromkeys(c.message() for c in checks if not c.ok))

    @classmethod
    def load(cls) -> "SurveySettings":
        return cls.objects.get_or_create(pk=1)[0]


class CategoryWording(models.Model):
    """How a reason category is named to buyers (the matrix and the survey's groups)."""

    category = models.OneToOneField(
        ReasonCategory, on_delete=models.PROTECT, primary_key=True, related_name="buyer_wording"
    )
    buyer_label = models.CharField(max_length=200)

    class Meta:
        ordering = ["category__order", "category__name"]

    def __str__(self) -> str:
        return self.buyer_label


class ReasonWording(models.Model):
    """A reason in the buyer's words, and whether (and when) its closes get a survey on their own."""

    class Sending(models.TextChoices):
        DEFAULT = "default", "As the survey settings say for its kind"
        DAYS = "days", "After the days given here"
        NEVER = "never", "Never on its own (a rep may still send it)"

    reason = models.OneToOneField(
        Reason, on_delete=models.PROTECT, primary_key=True, related_name="buyer_wording"
    )
    buyer_label = models.CharField(max_length=200, blank=True, help_text="Empty: the standard wording.")
    sending = models.CharField(max_length=16, choices=Sending.choices, default=Sending.DEFAULT)
    send_after_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["reason__category__order", "reason__order"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(sending="days") | Q(send_after_days__isnull=False),
                name="reasonwording_days_given",
            )
        ]

    def __str__(self) -> str:
        return self.buyer_label or str(self.reason)


class SurveyState(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Could not be sent"
    CANCELLED = "cancelled", "Not sent"


class SurveySource(models.TextChoices):
    REP = "rep", "Sent by the rep"
    AUTOMATIC = "automatic", "Sent automatically"
    NURTURE = "nurture", "Link in a nurture e-mail"


class Survey(models.Model):
    """One buyer contact's link about one close (one per close and contact, so every contact
    asked has a link and an answer of their own). Its state and queued_at are the e-mail's
    hand-off row; a contact that cannot be asked (no address) is a `failed` row saying why."""

    closure = models.ForeignKey(Closure, on_delete=models.PROTECT, related_name="surveys")
    deal = models.ForeignKey(Deal, on_delete=models.PROTECT, related_name="surveys")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="surveys")
    source = models.CharField(max_length=16, choices=SurveySource.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=16, choices=SurveyState.choices, default=SurveyState.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    # Handed to the worker at; a pending row handed out longer ago than the lease is handed out again.
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    cancelled_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="sent", sent_at__isnull=False) | ~Q(state="sent"),
                name="survey_sent_has_time",
            ),
            models.UniqueConstraint(fields=["closure", "contact"], name="survey_one_per_closure_contact"),
        ]
        indexes = [
            models.Index(fields=["queued_at"], condition=Q(state="pending"), name="survey_pending"),
            models.Index(fields=["deal", "-created_at"], name="survey_deal_created"),
        ]

    def __str__(self) -> str:
        return f"Survey {self.pk} for {self.deal}"


class SurveyResponse(models.Model):
    """The buyer's answer: at most one per survey (the one-to-one key)."""

    survey = models.OneToOneField(Survey, on_delete=models.PROTECT, related_name="response")
    # NULL: "something else", told in main_reason_other.
    main_reason = models.ForeignKey(Reason, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    main_reason_other = models.TextField(blank=True)
    secondary_reasons = models.ManyToManyField(Reason, blank=True, related_name="+")
    competitor = models.ForeignKey(
        Competitor, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kept_what_they_had = models.BooleanField(default=False)
    process_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    may_contact_again = models.BooleanField()
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-answered_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(main_reason__isnull=False) | ~Q(main_reason_other=""),
                name="surveyresponse_main_reason_or_text",
            ),
            models.CheckConstraint(
                condition=Q(process_rating__isnull=True) | Q(process_rating__gte=1, process_rating__lte=5),
                name="surveyresponse_rating_1_to_5",
            ),
            models.CheckConstraint(
                condition=Q(competitor__isnull=True) | Q(kept_what_they_had=False),
                name="surveyresponse_competitor_or_kept",
            ),
        ]
        indexes = [models.Index(fields=["-answered_at", "-id"], name="surveyresponse_answered_id")]

    def __str__(self) -> str:
        return f"Response to survey {self.survey_id}"


class SurveySettingsChange(models.Model):
    """Append-only history of the admins' changes to the survey settings (who, when, before, after)."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"Survey settings changed by {self.actor_id} at {self.at:%Y-%m-%d %H:%M}"


class WordingChange(models.Model):
    """Append-only history of the buyer wording of one reason or one category (who, when, before,
    after). Written only by surveys.wording_setup."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    reason = models.ForeignKey(Reason, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    category = models.ForeignKey(
        ReasonCategory, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__isnull=False, category__isnull=True)
                | Q(reason__isnull=True, category__isnull=False),
                name="wordingchange_reason_or_category",
            )
        ]
        triggers = [append_only("wordingchange_append_only")]

    def __str__(self) -> str:
        return f"Buyer wording changed by {self.actor_id} at {self.at:%Y-%m-%d %H:%M}"
