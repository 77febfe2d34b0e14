"""What the dashboards need besides deals: the stored exchange rates."""

from django.db import models
from django.db.models import Q


class ExchangeRate(models.Model):
    """How many units of the organisation currency (settings.ORG_CURRENCY) one unit of `currency` is."""

    currency = models.CharField(max_length=3, unique=True, help_text="ISO 4217 code, e.g. EUR.")
    rate = models.DecimalField(max_digits=18, decimal_places=8)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchangerate_rate_positive"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="exchangerate_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate}"


class ExchangeRateChange(models.Model):
    """Append-only history of the admins' rate changes (who, when, the rate before and after)."""

    actor = models.ForeignKey("teams.User", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    currency = models.CharField(max_length=3)
    before = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    after = models.DecimalField(max_digits=18, decimal_places=8)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.currency}: {self.before} → {self.after}"


class LossHistory(models.Model):
    """One row per deal ever lost: what the reopen and recovery figures need from its closures.

    Kept current by PostgreSQL triggers on deals_closure (insights/sql/01_loss_history.sql), so
    every way a closure is written (services, CRM sync, imports, bulk loads) keeps it right; no
    foreign-key constraints, so it never blocks the demo reset. The recovery figures read it on
    PostgreSQL and compute the same thing from the closures elsewhere (tests check that both agree).
    """

    deal = models.OneToOneField(
        "deals.Deal",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="loss_history",
    )
    first_lost_closure = models.ForeignKey(
        "deals.Closure", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # As the rep (or CRM) chose it; figures roll it up through Reason.merged_into.
    first_lost_reason = models.ForeignKey(
        "reasons.Reason", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    reopened = models.BooleanField(help_text="A lost closure of the deal was reopened.")
    last_closed_at = models.DateTimeField(help_text="The latest close of the deal, reopened or not.")

    class Meta:
        verbose_name_plural = "loss histories"

    def __str__(self) -> str:
        return f"deal {self.deal_id}: first lost for {self.first_lost_reason_id}"


class DealFact(models.Model):
    """What one deal adds to the dashboards' figures: one row per deal closed now or ever lost.

    Kept current on PostgreSQL by triggers on deals, closures, accounts and closure sequences
    (insights/sql/, installed by migration 0002; the table itself is in 0001), whichever
    way they are written. Each change replaces the deal's row and adds
    the difference to `Rollup`. Reasons and competitors are stored as chosen; figures roll them up
    to merge survivors when they read, so a merge changes nothing here.
    """

    deal = models.OneToOneField(
        "deals.Deal", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # The latest close: the deal's own closed_at, or its last closure's when it is open again.
    closed_at = models.DateTimeField()
    month = models.DateField(help_text="The first day of closed_at's month (UTC).")
    team_id = models.BigIntegerField()
    owner_id = models.BigIntegerField()
    pipeline_id = models.BigIntegerField()
    stage_id = models.BigIntegerField()
    status = models.CharField(max_length=16)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    cycle_seconds = models.DecimalField(max_digits=20, decimal_places=6, null=True)
    reason_id = models.BigIntegerField(null=True)
    needs_reason = models.BooleanField()
    competitor_id = models.BigIntegerField(null=True, help_text="The standing closure's competitor.")
    industry = models.CharField(max_length=100)
    band = models.CharField(max_length=16, help_text="A key of deals.selectors.SIZE_BANDS.")
    ever_lost = models.BooleanField()
    first_lost_reason_id = models.BigIntegerField(null=True)
    sequence_id = models.BigIntegerField(null=True, help_text="The first loss's nurture sequence.")
    reopened = models.BooleanField()

    class Meta:
        indexes = [
            # Team and rep next to the date: a partial month's read under a team or rep checks
            # them in the index and fetches only the team's own facts (issue 25).
            models.Index(fields=["closed_at", "team_id", "owner_id"], name="insights_fact_closed_keys"),
            models.Index(fields=["team_id", "closed_at"], name="insights_fact_team_closed"),
            models.Index(fields=["owner_id", "closed_at"], name="insights_fact_owner_closed"),
        ]

    def __str__(self) -> str:
        return f"deal {self.deal_id}: {self.status} in {self.month:%Y-%m}"


class Grouping(models.IntegerChoices):
    BASE = 1, "closed deals"
    REASON = 2, "lost deals by reason"
    STAGE = 3, "lost deals by stage"
    COMPETITOR = 4, "won and lost deals by competitor"
    INDUSTRY = 5, "closed deals by industry"
    RECOVERY_REASON = 6, "deals ever lost by first loss reason"
    REP_REASON = 7, "lost deals by rep and reason"
    SIZE = 8, "closed deals by account size"
    RECOVERY_SEQUENCE = 9, "deals ever lost by first loss nurture sequence"


ROLLUP_KEY = [
    "grouping",
    "month",
    "team_id",
    "owner_id",
    "pipeline_id",
    "status",
    "currency",
    "reason_id",
    "stage_id",
    "competitor_id",
    "industry",
    "band",
    "first_lost_reason_id",
    "sequence_id",
    "reopened",
]
ROLLUP_DAY_KEY = ["day" if key == "month" else key for key in ROLLUP_KEY]


class RollupSums(models.Model):
    """The keys (but the time grain) and the sums shared by the monthly and the daily rollup."""

    settled = models.BooleanField(default=False)
    grouping = models.PositiveSmallIntegerField(choices=Grouping.choices)
    team_id = models.BigIntegerField()
    owner_id = models.BigIntegerField(null=True, help_text="Only in the groupings keyed by rep.")
    pipeline_id = models.BigIntegerField()
    status = models.CharField(max_length=16)
    currency = models.CharField(max_length=3, null=True, help_text="Only where a figure shows a value.")
    reason_id = models.BigIntegerField(null=True)
    stage_id = models.BigIntegerField(null=True)
    competitor_id = models.BigIntegerField(null=True)
    industry = models.CharField(max_length=100, null=True)
    band = models.CharField(max_length=16, null=True)
    first_lost_reason_id = models.BigIntegerField(null=True)
    sequence_id = models.BigIntegerField(null=True)
    reopened = models.BooleanField(null=True)
    deals = models.IntegerField()
    needs_reason = models.IntegerField()
    amount = models.DecimalField(max_digits=24, decimal_places=2)
    # Σ amount² in the row's currency (converted with the rate squared): the lost value test's variance.
    amount_sq = models.DecimalField(max_digits=38, decimal_places=4, default=0)
    cycle_seconds = models.DecimalField(max_digits=30, decimal_places=6, null=True)

    class Meta:
        abstract = True


class Rollup(RollupSums):
    """Monthly sums of DealFact rows, one grouping per family of figures.

    Every grouping is keyed by team and pipeline; only BASE and REP_REASON also by rep (the by-rep
    figure needs them), and REP_REASON has no currency (counts only): a key per rep would make the
    other groupings nearly as long as the facts.

    The triggers append signed differences (settled = false); `rollup_compact` (Celery beat) folds
    them into one settled row per key. Readers sum every row of a key, so the figures are exact
    before and after compaction.
    """

    Grouping = Grouping
    month = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                *ROLLUP_KEY,
                condition=Q(settled=True),
                nulls_distinct=False,
                name="insights_rollup_settled_key",
            ),
        ]
        indexes = [
            models.Index(fields=["grouping", "month"], name="insights_rollup_month"),
            models.Index(fields=["grouping", "team_id", "month"], name="insights_rollup_team"),
            models.Index(fields=["grouping", "owner_id", "month"], name="insights_rollup_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.get_grouping_display()} {self.month:%Y-%m}: {self.deals}"


class RollupDay(RollupSums):
    """The same sums by day (UTC), kept by the same triggers: a period's partial months (the
    current month, a 90-day period's edges) read these rows, not the facts (issue 25)."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                *ROLLUP_DAY_KEY,
                condition=Q(settled=True),
                nulls_distinct=False,
                name="insights_rollupday_settled_key",
            ),
        ]
        indexes = [
            models.Index(fields=["grouping", "day"], name="insights_rollupday_day"),
            models.Index(fields=["grouping", "team_id", "day"], name="insights_rollupday_team"),
            models.Index(fields=["grouping", "owner_id", "day"], name="insights_rollupday_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.get_grouping_display()} {self.day}: {self.deals}"


class InsightsSettings(models.Model):
    """The figures' organisation settings set on a page by an admin; one row (pk 1). Empty: the
    environment's default (WIN_RATE_INCLUDES_DISQUALIFIED)."""

    win_rate_includes_disqualified = models.BooleanField(
        null=True,
        blank=True,
        help_text="Count disqualified losses in win rates (empty: the server's default).",
    )

    class Meta:
        verbose_name = verbose_name_plural = "figure settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="insightssettings_single_row")]

    def __str__(self) -> str:
        return "Figure settings"


class InsightsSettingsChange(models.Model):
    """Append-only history of the admins' changes to the figure settings (who, when, before, after)."""

    actor = models.ForeignKey("teams.User", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"Figure settings changed by {self.actor_id} at {self.at:%Y-%m-%d %H:%M}"
