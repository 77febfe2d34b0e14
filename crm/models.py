"""CRM connections, the raw webhook events they send us, write-back state and CSV imports.

Webhook events are stored raw before anything else happens, so a failure in processing
never loses one; a unique dedupe key makes repeated deliveries land once.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from encrypted_fields.fields import EncryptedCharField

from deals.models import Deal
from reasons.models import Competitor, Reason


class CrmKind(models.TextChoices):
    HUBSPOT = "hubspot", "HubSpot"
    PIPEDRIVE = "pipedrive", "Pipedrive"
    SALESFORCE = "salesforce", "Salesforce"


# Which Deal column holds each CRM's id for the deal.
EXTERNAL_ID_FIELD = {
    CrmKind.HUBSPOT: "hubspot_id",
    CrmKind.PIPEDRIVE: "pipedrive_id",
    CrmKind.SALESFORCE: "salesforce_id",
}

# What a new connection starts with, from each CRM's standard set-up.
CONNECTION_DEFAULTS = {
    CrmKind.HUBSPOT: {
        "base_url": "https://api.hubapi.com",
        "lost_stages": ["closedlost"],
        "stage_out": {"lost": "closedlost", "won": "closedwon"},
        "won_stages": ["closedwon"],
        "win_reason_field": "closed_won_reason",
        "reason_field": "closed_lost_reason",
    },
    CrmKind.PIPEDRIVE: {
        "base_url": "https://api.pipedrive.com",
        "lost_stages": ["lost"],
        "stage_out": {"lost": "lost", "won": "won"},
        "won_stages": ["won"],
        "reason_field": "lost_reason",
        "token_kind": "api_token",
    },
    CrmKind.SALESFORCE: {
        "base_url": "https://example.my.salesforce.com",
        "lost_stages": ["Closed Lost"],
        "stage_out": {"lost": "Closed Lost", "won": "Closed Won"},
        "won_stages": ["Closed Won"],
        "win_reason_field": "Win_Reason__c",
        "reason_field": "Loss_Reason__c",
    },
}


class SecretField(EncryptedCharField):
    """A CRM secret, Fernet-encrypted at rest with a key derived from SECRET_KEY and
    CRM_SECRETS_SALTS (a list: the first encrypts, the others still decrypt, for rotation).
    Empty stays an empty string, so "not set" needs no NULL."""

    def get_prep_value(self, value):
        return super().get_prep_value(value) if value else ""

    def to_python(self, value):
        return super().to_python(value) if value else ""


class CrmConnection(models.Model):
    """How we talk to one CRM: where its API is, the secrets, and how its values map to ours."""

    class ReasonValue(models.TextChoices):
        LABEL = "label", "Reason label"
        CODE = "code", "Reason code"

    class TokenKind(models.TextChoices):
        OAUTH = "oauth", "OAuth access token (Authorization: Bearer)"
        API_TOKEN = "api_token", "Personal API token (x-api-token header)"

    kind = models.CharField(max_length=16, choices=CrmKind.choices, unique=True)
    active = models.BooleanField(default=True)
    base_url = models.URLField(
        max_length=300, help_text="The CRM's API address, used for write-back (no trailing slash)."
    )
    account_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="HubSpot portal id, Salesforce organization id or Pipedrive company id; "
        "events from any other account are refused. Blank accepts any.",
    )
    webhook_secret = SecretField(
        max_length=200,
        blank=True,
        help_text="HubSpot: the app's client secret. Pipedrive: the webhook's Basic auth password. "
        "Salesforce: a shared token expected as ?token= on the endpoint URL.",
    )
    webhook_username = models.CharField(
        max_length=100, blank=True, help_text="Pipedrive: the webhook's Basic auth user name."
    )
    api_token = SecretField(
        max_length=400, blank=True, help_text="The API token for write-back and reconciliation."
    )
    token_kind = models.CharField(
        max_length=16,
        choices=TokenKind.choices,
        default=TokenKind.OAUTH,
        help_text="Pipedrive: a personal API token goes in the x-api-token header, an OAuth access "
        "token in Authorization: Bearer. HubSpot and Salesforce tokens are always Bearer.",
    )
    api_version = models.CharField(max_length=10, default="v60.0", help_text="Salesforce REST API version.")
    lost_stages = models.JSONField(
        default=list, blank=True, help_text="CRM stage (or status) values that mean closed lost."
    )
    won_stages = models.JSONField(
        default=list, blank=True, help_text="CRM stage (or status) values that mean closed won."
    )
    win_reason_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="The CRM field that holds the win reason, if it has one (HubSpot: closed_won_reason; "
        "Pipedrive: the custom field's key; Salesforce: the field's API name, e.g. Win_Reason__c).",
    )
    competitor_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="The CRM field that names the competitor a deal was lost to, if any (HubSpot: the deal "
        "property; Pipedrive: the custom field's key; Salesforce: the field's API name, e.g. Competitor__c). "
        "Its text is matched to our competitors by name or alias.",
    )
    stage_out = models.JSONField(
        default=dict,
        blank=True,
        help_text='Our outcome → the CRM stage value written back, e.g. {"lost": "closedlost"}.',
    )
    stage_map = models.JSONField(
        default=dict,
        blank=True,
        help_text="Our open stage's name → the CRM's stage value, both ways (reopens written back, "
        "stage moves received); a stage not in it is matched by name.",
    )
    owner_map = models.JSONField(
        default=dict,
        blank=True,
        help_text="The CRM's owner id → our user name, for owner changes from the CRM "
        "(an owner given as an e-mail address is matched by e-mail).",
    )
    reason_field = models.CharField(max_length=100, help_text="The CRM field that holds the loss reason.")
    reason_value = models.CharField(
        max_length=8,
        choices=ReasonValue.choices,
        default=ReasonValue.LABEL,
        help_text="What is written into the reason field.",
    )
    write_back = models.BooleanField(default=True, help_text="Send our closes back to the CRM.")
    primary_contact_label = models.CharField(
        max_length=100,
        blank=True,
        default="primary",
        help_text="HubSpot: a deal-to-contact association label containing this text marks the deal's "
        "primary contact (HubSpot has no built-in one).",
    )
    # Reconciliation: when the last complete run started (the next asks for changes since then)
    # and what it found.
    reconciled_at = models.DateTimeField(null=True, blank=True)
    reconcile_report = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.get_kind_display()

    @property
    def external_id_field(self) -> str:
        return EXTERNAL_ID_FIELD[self.kind]


class ReasonMapping(models.Model):
    """A CRM's own loss-reason value (normalised) → our standard reason."""

    kind = models.CharField(
        max_length=16, choices=CrmKind.choices, blank=True, help_text="Blank: applies to every CRM."
    )
    crm_value = models.CharField(max_length=300, help_text="Stored lower-case, spaces collapsed.")
    reason = models.ForeignKey(Reason, on_delete=models.PROTECT, related_name="crm_mappings")
    competitor = models.ForeignKey(
        Competitor, on_delete=models.PROTECT, null=True, blank=True, related_name="crm_mappings"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "crm_value"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "crm_value"], name="reasonmapping_unique_kind_value"),
            models.CheckConstraint(condition=~Q(crm_value=""), name="reasonmapping_value_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.crm_value} → {self.reason}"


class UnmappedReason(models.Model):
    """The "needs classification" queue: CRM reason texts no mapping, code or label matched."""

    class Outcome(models.TextChoices):
        LOST = "lost", "Lost"
        WON = "won", "Won"

    kind = models.CharField(max_length=16, choices=CrmKind.choices)
    # Which of the CRM's reason fields the text came from: a win reason is classified as one.
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.LOST)
    crm_value = models.CharField(max_length=300, help_text="Normalised, as in ReasonMapping.")
    example = models.CharField(max_length=300, help_text="The text as the CRM wrote it.")
    occurrences = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    mapping = models.ForeignKey(
        ReasonMapping, on_delete=models.PROTECT, null=True, blank=True, related_name="classified"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurrences", "crm_value"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "outcome", "crm_value"], name="unmappedreason_unique_kind_outcome_value"
            ),
        ]

    def __str__(self) -> str:
        return self.example


class WebhookEvent(models.Model):
    """One event a CRM sent us, stored raw first and processed by Celery afterwards."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed (will retry)"
        DEAD = "dead", "Dead letter"

    kind = models.CharField(max_length=16, choices=CrmKind.choices)
    # Unique by the constraint below: a unique=True field would also get a LIKE index that no
    # query uses and every stored event would pay for.
    dedupe_key = models.CharField(max_length=200)
    # The request body exactly as received; `item` says which event in it this row is.
    body = models.TextField()
    item = models.PositiveIntegerField(default=0)
    headers = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    result = models.CharField(max_length=300, blank=True)
    # Indexed only where set: an event is stored before it is tied to a deal, and the store
    # path is the receivers' hot path.
    deal = models.ForeignKey(
        Deal, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="webhookevent_status_received"),
            models.Index(fields=["deal"], name="webhookevent_deal", condition=models.Q(deal__isnull=False)),
        ]
        constraints = [models.UniqueConstraint(fields=["dedupe_key"], name="webhookevent_unique_dedupe_key")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.dedupe_key}"


class DealSync(models.Model):
    """Write-back state of one deal to one CRM, shown on the deal page."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to send"
        RETRYING = "retrying", "Retrying"
        SYNCED = "synced", "In sync"
        FAILED = "failed", "Failed"

    deal = models.ForeignKey(Deal, on_delete=models.PROTECT, related_name="crm_syncs")
    kind = models.CharField(max_length=16, choices=CrmKind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # What we last sent (and the CRM accepted): an echo of exactly this is not a new change.
    last_pushed = models.JSONField(default=dict, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind"]
        constraints = [models.UniqueConstraint(fields=["deal", "kind"], name="dealsync_unique_deal_kind")]

    def __str__(self) -> str:
        return f"{self.deal} → {self.get_kind_display()}: {self.state}"


class DealOwnerSync(models.Model):
    """Write-back of one deal's owner to one CRM, after an owner change made here (e.g. the deals
    of a deactivated person given to a successor): the CRM's owner becomes the new owner's CRM
    owner id from the connection's owner map. Shown on the deal page."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to send"
        RETRYING = "retrying", "Retrying"
        SYNCED = "synced", "Owner written back"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Not written back"

    deal = models.ForeignKey(Deal, on_delete=models.PROTECT, related_name="crm_owner_syncs")
    kind = models.CharField(max_length=16, choices=CrmKind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Why it failed or was skipped (a successor without a CRM owner id), shown as is.
    last_error = models.TextField(blank=True)
    crm_owner_id = models.CharField(max_length=64, blank=True, help_text="The CRM owner id last sent.")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind"]
        constraints = [
            models.UniqueConstraint(fields=["deal", "kind"], name="dealownersync_unique_deal_kind")
        ]

    def __str__(self) -> str:
        return f"{self.deal} owner → {self.get_kind_display()}: {self.state}"


class CrmLostReason(models.Model):
    """The CRM's own reason text for a deal it closed (lost, or won) without a standard reason.

    Classifying that text (UnmappedReason) gives the reason to every deal waiting with it.
    """

    deal = models.OneToOneField(Deal, on_delete=models.PROTECT, related_name="crm_lost_reason")
    kind = models.CharField(max_length=16, choices=CrmKind.choices)
    crm_value = models.CharField(max_length=300)
    text = models.CharField(max_length=300)

    class Meta:
        indexes = [models.Index(fields=["kind", "crm_value"], name="crmlostreason_kind_value")]

    def __str__(self) -> str:
        return self.text


class CrmDealState(models.Model):
    """The newest change of one CRM applied to one deal: an older delivery never moves it back."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="crm_states")
    kind = models.CharField(max_length=16, choices=CrmKind.choices)
    # Null until a change of state (outcome or stage) is applied: a detail or a reason kept first
    # must not make an earlier close look old.
    changed_at = models.DateTimeField(
        null=True, blank=True, help_text="The CRM's own time of the newest change of state applied."
    )
    # The CRM's time of the newest change applied per detail ("amount", "owner"), ISO 8601.
    fields_changed_at = models.JSONField(default=dict, blank=True)
    # The CRM's newest reason text per outcome ("lost", "won") with its time, [text, ISO 8601]:
    # a reason that arrives before its close is kept here and applied when the close comes.
    reasons = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deal", "kind"], name="crmdealstate_unique_deal_kind")]

    def __str__(self) -> str:
        when = f"{self.changed_at:%Y-%m-%d %H:%M:%S}" if self.changed_at else "no change of state yet"
        return f"{self.deal} ← {self.get_kind_display()} at {when}"


class CrmSyncRun(models.Model):
    """One "bring in deals" run of one CRM: its pipelines and stages, then its open deals and
    those closed since `closed_since`, page by page. The cursor and the counts are saved with
    each page's writes, so a run stopped anywhere resumes after the last page written."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for the CRM (will resume)"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    ACTIVE = [Status.QUEUED, Status.RUNNING, Status.WAITING]

    kind = models.CharField(max_length=16, choices=CrmKind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    window_months = models.PositiveSmallIntegerField(default=24)
    closed_since = models.DateTimeField(help_text="Closed deals closed before this are left out.")
    # Where the next page starts (the CRM's own paging token or last id); "" before the first.
    cursor = models.TextField(blank=True)
    pipelines_done = models.BooleanField(default=False)
    pages = models.PositiveIntegerField(default=0)
    read_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    contacts_count = models.PositiveIntegerField(default=0)
    # The first skipped deals with why: [{"id": ..., "name": ..., "why": ...}].
    skipped = models.JSONField(default=list, blank=True)
    stages_report = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    progressed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One run at a time per CRM: a second "bring in deals" while one runs is refused.
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(status__in=["queued", "running", "waiting"]),
                name="crmsyncrun_one_active_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync {self.created_at:%Y-%m-%d %H:%M}: {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


# The connection's history lives in its own module; imported here so Django sees it.
from crm.connection_history import ConnectionChange  # noqa: E402,F401
from crm.import_models import ImportJob, ImportRowError  # noqa: E402,F401
