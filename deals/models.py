"""Pipelines, deals, their closures and their history.

State changes go through deals.services; the constraints here hold the rules that the
database can hold even for code that skips the services.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from closedlost.dbrules import CompositeForeignKey, append_only
from reasons.models import Competitor, Reason, ReasonKind
from teams.models import Team


class CrmIds(models.Model):
    """The record's id in each CRM (the sync upserts by these) and, for a company's own
    integration, its `external_id` (the API upserts by it). Null: not linked; unique when set."""

    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    hubspot_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    salesforce_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    pipedrive_id = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        abstract = True


class Pipeline(CrmIds):
    name = models.CharField(max_length=100, unique=True)
    win_reason_required = models.BooleanField(
        default=True, help_text="Whether marking a deal won in this pipeline asks for a win reason."
    )
    # A pipeline removed in its CRM stays (its deals and figures keep it) but takes no new deals.
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def active(self) -> bool:
        return self.removed_at is None


class StageOutcome(models.TextChoices):
    """What a deal reaching the stage means: most stages are open; a CRM's "Closed Lost" /
    "Closed Won" stages (and a pipeline's own, chosen on the pipeline page) close the deal."""

    OPEN = "open", "Open"
    WON = "won", "Closes won"
    LOST = "lost", "Closes lost"


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="stages")
    name = models.CharField(max_length=100)
    # Not unique: a CRM reorders its stages one by one, and a removed stage keeps its place.
    order = models.PositiveIntegerField()
    win_probability = models.PositiveSmallIntegerField(help_text="Percent, 0 to 100.")
    outcome = models.CharField(max_length=8, choices=StageOutcome.choices, default=StageOutcome.OPEN)
    # The stage's id in each CRM: unique within its pipeline (a Salesforce stage can be in several
    # sales processes, so in several of our pipelines).
    hubspot_id = models.CharField(max_length=64, null=True, blank=True)
    salesforce_id = models.CharField(max_length=64, null=True, blank=True)
    pipedrive_id = models.CharField(max_length=64, null=True, blank=True)
    # Removed in the CRM (or here): kept, with its deals and the closes lost at it, but offered
    # for no new deal or move.
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pipeline_id", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "name"],
                condition=Q(removed_at__isnull=True),
                name="stage_unique_pipeline_name_current",
            ),
            models.UniqueConstraint(fields=["pipeline", "hubspot_id"], name="stage_unique_pipeline_hubspot"),
            models.UniqueConstraint(
                fields=["pipeline", "salesforce_id"], name="stage_unique_pipeline_salesforce"
            ),
            models.UniqueConstraint(
                fields=["pipeline", "pipedrive_id"], name="stage_unique_pipeline_pipedrive"
            ),
            # Target of the composite (stage, pipeline) key from Deal: a deal's stage is in its pipeline.
            models.UniqueConstraint(fields=["id", "pipeline"], name="stage_unique_id_pipeline"),
            models.CheckConstraint(
                condition=Q(win_probability__gte=0, win_probability__lte=100),
                name="stage_probability_percent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def active(self) -> bool:
        return self.removed_at is None


class Account(CrmIds):
    """A company (HubSpot company, Pipedrive organization, Salesforce Account)."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(CrmIds):
    """A buyer. The CRM's e-mail opt-out becomes a followups.ContactOptOut for the address (never
    undone here). Erased: name and e-mail emptied, `erased_at` set; the row stays for the
    surveys and follow-ups that point at it."""

    # Null: a CRM contact with no company.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="contacts"
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    title = models.CharField(max_length=120, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["email"], name="contact_email", condition=~Q(email=""))]
        constraints = [
            models.CheckConstraint(
                condition=Q(erased_at__isnull=True) | Q(email=""),
                name="contact_erased_has_no_address",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DealStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    NO_DECISION = "no_decision", "No decision"


# The reason kind each closed status must carry.
OUTCOME_REASON_KIND = {
    DealStatus.WON: ReasonKind.WIN,
    DealStatus.LOST: ReasonKind.LOSS,
    DealStatus.NO_DECISION: ReasonKind.NO_DECISION,
}


def _reason_matches_outcome(status_field: str) -> Q:
    """Open: no reason. Lost / no decision: a reason of that kind. Won: a win reason or none.

    A lost deal may lack a reason only while it waits in the "needs a reason" queue (a CRM
    closed it without a standard reason).
    """
    no_reason = Q(close_reason__isnull=True, close_reason_kind__isnull=True)
    return (
        (Q(**{status_field: DealStatus.OPEN}) & no_reason)
        | Q(**{status_field: DealStatus.LOST}, close_reason__isnull=False, close_reason_kind=ReasonKind.LOSS)
        | (Q(**{status_field: DealStatus.LOST}, needs_reason=True) & no_reason)
        | Q(
            **{status_field: DealStatus.NO_DECISION},
            close_reason__isnull=False,
            close_reason_kind=ReasonKind.NO_DECISION,
        )
        | (
            Q(**{status_field: DealStatus.WON})
            & (Q(close_reason__isnull=False, close_reason_kind=ReasonKind.WIN) | no_reason)
        )
    )


class Deal(models.Model):
    name = models.CharField(max_length=200)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="deals")
    contacts = models.ManyToManyField(Contact, through="DealContact", blank=True, related_name="deals")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_deals")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="deals")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    # A closed deal keeps the stage it was in when it closed.
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=16, choices=DealStatus.choices, default=DealStatus.OPEN)
    # The current closure's primary reason and its kind, kept here so that a check
    # constraint (and a composite foreign key on PostgreSQL) can hold rule 1.
    close_reason = models.ForeignKey(
        Reason, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    close_reason_kind = models.CharField(max_length=16, choices=ReasonKind.choices, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expected_close_date = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Closed (lost or won) by a CRM without a standard reason: waits in the rep's "needs a reason" queue.
    needs_reason = models.BooleanField(default=False)
    # The deal's record in each CRM (webhooks and write-back find it by these); null: not linked.
    # `external_id`: a company's own integration's id (the API upserts by it).
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    hubspot_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    salesforce_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    pipedrive_id = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=_reason_matches_outcome("status"), name="deal_reason_matches_status"
            ),
            models.CheckConstraint(
                condition=Q(status=DealStatus.OPEN, closed_at__isnull=True)
                | (~Q(status=DealStatus.OPEN) & Q(closed_at__isnull=False)),
                name="deal_closed_at_iff_closed",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(needs_reason=False)
                | Q(status__in=[DealStatus.LOST, DealStatus.WON], close_reason__isnull=True),
                name="deal_needs_reason_only_closed_without_reason",
            ),
            # PostgreSQL: the stored reason kind is the reason's real kind, so the check above
            # cannot be fooled by a wrong kind column; a deal's stage is in the deal's pipeline.
            CompositeForeignKey(
                name="deal_close_reason_kind_fk",
                fields=["close_reason", "close_reason_kind"],
                to="reasons.Reason",
                to_fields=["id", "kind"],
            ),
            CompositeForeignKey(
                name="deal_stage_in_pipeline_fk",
                fields=["stage", "pipeline"],
                to="deals.Stage",
                to_fields=["id", "pipeline"],
            ),
        ]
        indexes = [
            # Keyset pagination of the deal list: all deals, and one owner's deals.
            models.Index(fields=["-created_at", "-id"], name="deal_created_id"),
            models.Index(fields=["owner", "-created_at", "-id"], name="deal_owner_created_id"),
            models.Index(fields=["team", "-created_at", "-id"], name="deal_team_created_id"),
            models.Index(fields=["status", "closed_at"], name="deal_status_closed"),
            models.Index(fields=["owner"], condition=Q(needs_reason=True), name="deal_needs_reason_owner"),
            # The dashboards' "open now" count (sales velocity) for a team, a rep or everyone.
            models.Index(fields=["team", "pipeline"], condition=Q(status="open"), name="deal_open_team"),
            models.Index(fields=["owner", "pipeline"], condition=Q(status="open"), name="deal_open_owner"),
            # The dashboards' live figures: a team's or an owner's deals closed in a period.
            models.Index(
                fields=["team", "closed_at"], condition=Q(closed_at__isnull=False), name="deal_team_period"
            ),
            models.Index(
                fields=["owner", "closed_at"], condition=Q(closed_at__isnull=False), name="deal_owner_period"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == DealStatus.OPEN


class DealContact(models.Model):
    """A contact on a deal: their role and whether they are the primary buyer (the survey asks
    the primary one; nurture e-mails go to every contact not opted out). Removing one deletes
    this row and records a DealEvent (field "contact", the contact's id only)."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="contact_links")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deal_links")
    role = models.CharField(max_length=100, blank=True)
    is_primary = models.BooleanField(default=False)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The table Django made for the plain many-to-many, rows kept.
        db_table = "deals_deal_contacts"
        ordering = ["-is_primary", "contact_id"]
        # unique_together, as the plain many-to-many's table already has it.
        unique_together = [("deal", "contact")]
        constraints = [
            models.UniqueConstraint(
                fields=["deal"], condition=Q(is_primary=True), name="dealcontact_one_primary_per_deal"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.contact_id}{' (primary)' if self.is_primary else ''}"


class Closure(models.Model):
    """One close of a deal. Reopening marks it reopened; it is never deleted."""

    deal = models.ForeignKey(Deal, on_delete=models.PROTECT, related_name="closures")
    outcome = models.CharField(
        max_length=16, choices=[c for c in DealStatus.choices if c[0] != DealStatus.OPEN]
    )
    reason = models.ForeignKey(
        Reason, on_delete=models.PROTECT, null=True, blank=True, related_name="closures"
    )
    reason_kind = models.CharField(max_length=16, choices=ReasonKind.choices, null=True, blank=True)
    secondary_reasons = models.ManyToManyField(
        Reason, through="ClosureSecondaryReason", blank=True, related_name="secondary_closures"
    )
    competitor = models.ForeignKey(
        Competitor, on_delete=models.PROTECT, null=True, blank=True, related_name="closures"
    )
    note = models.TextField(blank=True)
    revisit_on = models.DateField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    stage_at_close = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    amount_at_close = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    closed_at = models.DateTimeField(default=timezone.now)
    # A CRM closed the deal (lost or won) without a standard reason; the rep gives one later.
    needs_reason = models.BooleanField(default=False)
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-closed_at", "-id"]
        constraints = [
            # At most one standing (not reopened) closure per deal: two concurrent closes cannot both land.
            models.UniqueConstraint(
                fields=["deal"], condition=Q(reopened_at__isnull=True), name="closure_one_standing_per_deal"
            ),
            models.CheckConstraint(
                condition=Q(outcome=DealStatus.LOST, reason__isnull=False, reason_kind=ReasonKind.LOSS)
                | Q(outcome=DealStatus.LOST, reason__isnull=True, reason_kind__isnull=True, needs_reason=True)
                | Q(outcome=DealStatus.NO_DECISION, reason__isnull=False, reason_kind=ReasonKind.NO_DECISION)
                | Q(outcome=DealStatus.WON, reason__isnull=False, reason_kind=ReasonKind.WIN)
                | Q(outcome=DealStatus.WON, reason__isnull=True, reason_kind__isnull=True),
                name="closure_reason_matches_outcome",
            ),
            models.CheckConstraint(
                condition=Q(needs_reason=False)
                | Q(outcome__in=[DealStatus.LOST, DealStatus.WON], reason__isnull=True),
                name="closure_needs_reason_only_closed_without_reason",
            ),
            models.CheckConstraint(
                condition=Q(reopened_by__isnull=True) | Q(reopened_at__isnull=False),
                name="closure_reopened_by_needs_reopened_at",
            ),
            models.CheckConstraint(
                condition=Q(reopened_at__isnull=True) | Q(reopened_at__gte=models.F("closed_at")),
                name="closure_reopened_after_closed",
            ),
            # PostgreSQL: the stored reason kind is the reason's real kind.
            CompositeForeignKey(
                name="closure_reason_kind_fk",
                fields=["reason", "reason_kind"],
                to="reasons.Reason",
                to_fields=["id", "kind"],
            ),
        ]
        indexes = [
            models.Index(fields=["reason", "closed_at"], name="closure_reason_closed"),
            # The closures list (API) pages newest first.
            models.Index(fields=["-closed_at", "-id"], name="closure_closed_id"),
            # A deal's first loss and whether a loss was reopened (the loss history, recovery).
            models.Index(
                fields=["deal", "closed_at", "id"],
                include=["reason", "reopened_at"],
                condition=Q(outcome="lost"),
                name="closure_lost_deal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deal} {self.outcome} at {self.closed_at:%Y-%m-%d}"

    @property
    def is_standing(self) -> bool:
        return self.reopened_at is None


class ClosureSecondaryReason(models.Model):
    closure = models.ForeignKey(Closure, on_delete=models.PROTECT)
    reason = models.ForeignKey(Reason, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["closure", "reason"], name="closure_secondary_reason_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.closure_id}: {self.reason_id}"


class DealEvent(models.Model):
    """Append-only history: every change of a deal's status, stage, owner and amount."""

    class Field(models.TextChoices):
        STATUS = "status", "Status"
        STAGE = "stage", "Stage"
        OWNER = "owner", "Owner"
        AMOUNT = "amount", "Amount"
        CRM_LINK = "crm_link", "CRM link"
        # A contact added to or removed from the deal: from/to hold the contact's id, never its name.
        CONTACT = "contact", "Contact"

    class ActorKind(models.TextChoices):
        USER = "user", "User"
        CRM = "crm", "CRM sync"
        SYSTEM = "system", "System"

    deal = models.ForeignKey(Deal, on_delete=models.PROTECT, related_name="events")
    field = models.CharField(max_length=16, choices=Field.choices)
    from_value = models.CharField(max_length=200, blank=True)
    to_value = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices, default=ActorKind.USER)
    closure = models.ForeignKey(
        Closure, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(actor_kind="user", actor__isnull=False) | ~Q(actor_kind="user"),
                name="dealevent_user_actor_named",
            ),
        ]
        # PostgreSQL refuses UPDATE and DELETE even from code that skips save() and delete().
        triggers = [append_only("dealevent_append_only")]

    def __str__(self) -> str:
        return f"{self.deal}: {self.field} {self.from_value} -> {self.to_value}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("DealEvent rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("DealEvent rows are append-only.")


# The admins' pipeline and stage history lives in its own module; imported here so Django sees it.
from deals.erasure_models import ContactErasure  # noqa: E402,F401
from deals.pipeline_history import PipelineChange  # noqa: E402,F401
