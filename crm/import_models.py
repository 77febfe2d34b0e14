"""A CSV export being imported (its file, column mapping and progress) and its rows' errors and
warnings. Part of crm.models (imported there), kept apart so each module reads in one sitting."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from crm.models import CrmKind


class ImportJob(models.Model):
    """One CSV export being imported: its file, its column mapping and its progress."""

    class Status(models.TextChoices):
        MAPPING = "mapping", "Choosing columns"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=CrmKind.choices)
    filename = models.CharField(max_length=255)
    content = models.TextField()
    # The file was decoded from this encoding; bytes it could not decode became U+FFFD and their
    # rows are reported, not imported.
    encoding = models.CharField(max_length=20, default="utf-8")
    column_map = models.JSONField(default=dict, blank=True)
    # Chosen on the review page: CRM stage value -> our stage name, and CRM id -> the id of an
    # existing deal (same name and account, not linked yet) the row is linked to instead of a new one.
    stage_map = models.JSONField(default=dict, blank=True)
    links = models.JSONField(default=dict, blank=True)
    # The review's scan of the file for the chosen columns (crm.importing.review), made once when
    # the columns are saved and read by the review page's GET and POST instead of scanning again.
    review = models.JSONField(default=dict, blank=True)
    # Characters the upload's encoding could not decode (U+FFFD), counted once at upload.
    undecodable = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.MAPPING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_kind_display()})"

    @property
    def percent(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class ImportRowError(models.Model):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField(help_text="Line in the file, counting the header as line 1.")
    field = models.CharField(max_length=100)
    problem = models.CharField(max_length=300)
    value = models.CharField(max_length=300, blank=True)
    # A warning: the row was imported (what its columns agree on), but something in it disagreed.
    warning = models.BooleanField(default=False)

    class Meta:
        ordering = ["row", "id"]

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.problem}"
