"""The reason taxonomy every close must choose from, and the competitors we lose to."""

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from closedlost.dbrules import CompositeForeignKey, append_only


class ReasonKind(models.TextChoices):
    LOSS = "loss", "Loss"
    WIN = "win", "Win"
    NO_DECISION = "no_decision", "No decision"


def merge_one_step(name: str) -> pgtrigger.Trigger:
    """PostgreSQL: merges are one step deep. A survivor is never merged itself, and a row that
    others point to cannot be merged until they are repointed (reasons.services flattens)."""
    return pgtrigger.Trigger(
        name=name,
        when=pgtrigger.Before,
        operation=pgtrigger.Insert | pgtrigger.UpdateOf("merged_into_id"),
        func=pgtrigger.Func(
            """
  IF NEW.merged_into_id IS NOT NULL THEN
    IF EXISTS (SELECT 1 FROM {meta.db_table}
                WHERE id = NEW.merged_into_id AND merged_into_id IS NOT NULL) THEN
      RAISE EXCEPTION '{meta.db_table} % cannot be merged into % which is merged itself',
        NEW.id, NEW.merged_into_id USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM {meta.db_table} WHERE merged_into_id = NEW.id) THEN
      RAISE EXCEPTION '{meta.db_table} % has rows merged into it; repoint them first', NEW.id
        USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  RETURN NEW;"""
        ),
    )


# PostgreSQL: a reason's code cannot change once a closure uses it (CRMs and the API key on it).
REASON_CODE_FROZEN = pgtrigger.Trigger(
    name="reason_code_frozen",
    when=pgtrigger.Before,
    operation=pgtrigger.UpdateOf("code"),
    func="""
  IF NEW.code IS DISTINCT FROM OLD.code AND (
       EXISTS (SELECT 1 FROM deals_closure WHERE reason_id = OLD.id)
       OR EXISTS (SELECT 1 FROM deals_closuresecondaryreason WHERE reason_id = OLD.id)) THEN
    RAISE EXCEPTION 'reason % is used by closures; its code % cannot change', OLD.id, OLD.code
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;""",
)


class ReasonCategory(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100, unique=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "name"]
        verbose_name_plural = "reason categories"

    def __str__(self) -> str:
        return self.name


class Reason(models.Model):
    category = models.ForeignKey(ReasonCategory, on_delete=models.PROTECT, related_name="reasons")
    kind = models.CharField(max_length=16, choices=ReasonKind.choices)
    code = models.SlugField(
        max_length=60, unique=True, help_text="Stable identifier for CRMs and the API; never reused."
    )
    label = models.CharField(max_length=120)
    help_text = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    requires_competitor = models.BooleanField(default=False)
    requires_note = models.BooleanField(default=False)
    is_catch_all = models.BooleanField(
        default=False,
        verbose_name="catch-all",
        help_text="A catch-all such as “Other”: counted in the taxonomy-health “Other” share.",
    )
    is_disqualifying = models.BooleanField(
        default=False,
        verbose_name="disqualifying",
        help_text="A loss for this reason is “disqualified” (the deal should never have been in the "
        "pipeline): counted apart on every figure and out of win rates unless "
        "WIN_RATE_INCLUDES_DISQUALIFIED is set.",
    )
    reopen_after_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Pre-fills the close form's 'revisit on' date."
    )
    example = models.TextField(
        blank=True, help_text="A short story that fits this reason, shown in the reason guide for reps."
    )
    # Set by reasons.services.reason_merge: always a survivor whose own merged_into is NULL,
    # so figures roll up in one step with Coalesce("reason__merged_into", "reason").
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_reasons"
    )

    class Meta:
        ordering = ["category__order", "order", "label"]
        constraints = [
            # Target of the composite (reason, kind) foreign keys from Deal and Closure,
            # which let the database check that a close uses a reason of the right kind.
            models.UniqueConstraint(fields=["id", "kind"], name="reason_unique_id_kind"),
            models.UniqueConstraint(fields=["kind", "label"], name="reason_unique_kind_label"),
            models.CheckConstraint(condition=~Q(merged_into=F("pk")), name="reason_not_merged_into_itself"),
            models.CheckConstraint(
                condition=Q(is_disqualifying=False) | Q(kind="loss"), name="reason_disqualifying_only_loss"
            ),
            # A merged reason has retired: it leaves the rep's form and points to its survivor.
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True) | Q(active=False), name="reason_merged_is_retired"
            ),
            # PostgreSQL: a merge stays within one kind.
            CompositeForeignKey(
                name="reason_merged_same_kind_fk",
                fields=["merged_into", "kind"],
                to="reasons.Reason",
                to_fields=["id", "kind"],
            ),
        ]
        triggers = [merge_one_step("reason_merge_one_step"), REASON_CODE_FROZEN]

    def __str__(self) -> str:
        return self.label


class Competitor(models.Model):
    name = models.CharField(max_length=120, unique=True)
    active = models.BooleanField(default=True)
    aliases = models.JSONField(default=list, blank=True, help_text="Other spellings seen in CRM free text.")
    # Same invariant as Reason.merged_into: points at a survivor that is not merged itself.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_competitors"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(merged_into=F("pk")), name="competitor_not_merged_into_itself"
            ),
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True) | Q(active=False), name="competitor_merged_is_retired"
            ),
        ]
        triggers = [merge_one_step("competitor_merge_one_step")]

    def __str__(self) -> str:
        return self.name


def _as_text(value) -> str:
    if value is None or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_as_text(item.get("name") if isinstance(item, dict) else item) for item in value)
    return str(value)


class TaxonomyChange(models.Model):
    """Append-only history of the taxonomy: who changed what, when, from what, to what.

    Written only by reasons.services; UPDATE and DELETE are refused here and, on
    PostgreSQL, by a trigger (Meta.triggers).
    """

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Edited"
        REORDER = "reorder", "Reordered"
        RETIRE = "retire", "Retired"
        RESTORE = "restore", "Restored"
        MERGE = "merge", "Merged"
        UNMERGE = "unmerge", "Merge undone"

    class Subject(models.TextChoices):
        CATEGORY = "category", "Category"
        REASON = "reason", "Reason"
        COMPETITOR = "competitor", "Competitor"

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    subject = models.CharField(max_length=16, choices=Subject.choices)
    # The row the change is about; PROTECT keeps every reason with a history (and its code).
    category = models.ForeignKey(
        ReasonCategory, on_delete=models.PROTECT, null=True, blank=True, related_name="changes"
    )
    reason = models.ForeignKey(
        Reason, on_delete=models.PROTECT, null=True, blank=True, related_name="changes"
    )
    competitor = models.ForeignKey(
        Competitor, on_delete=models.PROTECT, null=True, blank=True, related_name="changes"
    )
    subject_label = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["-at", "-id"], name="taxonomychange_at_id")]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    subject="category", category__isnull=False, reason__isnull=True, competitor__isnull=True
                )
                | Q(subject="reason", reason__isnull=False, category__isnull=True, competitor__isnull=True)
                | Q(
                    subject="competitor", competitor__isnull=False, category__isnull=True, reason__isnull=True
                ),
                name="taxonomychange_one_subject",
            ),
        ]
        triggers = [append_only("taxonomychange_append_only")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.subject} {self.subject_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("TaxonomyChange rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("TaxonomyChange rows are append-only.")

    @property
    def differences(self) -> list[tuple[str, str, str]]:
        """(field, before, after) for each value that differs, as short text for the history page."""
        before, after = self.before or {}, self.after or {}
        keys = list(dict.fromkeys([*before, *after]))
        return [
            (key.replace("_", " "), _as_text(before.get(key)), _as_text(after.get(key)))
            for key in keys
            if before.get(key) != after.get(key)
        ]
