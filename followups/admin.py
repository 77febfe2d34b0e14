from django.contrib import admin

from closedlost.admin import ReadOnlyAdmin
from followups.models import (
    ClosureSequence,
    ContactOptOut,
    FollowUp,
    NurtureSequence,
    NurtureStep,
    ReasonSequenceDefault,
)


class NurtureStepInline(admin.TabularInline):
    model = NurtureStep
    extra = 1
    fields = ["position", "days_after_close", "action", "subject", "body"]


class ReasonSequenceDefaultInline(admin.TabularInline):
    model = ReasonSequenceDefault
    extra = 0
    autocomplete_fields = []
    verbose_name = "reason starting this sequence by default"
    verbose_name_plural = "reasons starting this sequence by default"


@admin.register(NurtureSequence)
class NurtureSequenceAdmin(admin.ModelAdmin):
    list_display = ["name", "active"]
    list_filter = ["active"]
    search_fields = ["name"]
    inlines = [NurtureStepInline, ReasonSequenceDefaultInline]


@admin.register(ReasonSequenceDefault)
class ReasonSequenceDefaultAdmin(admin.ModelAdmin):
    list_display = ["reason", "sequence"]
    list_select_related = ["reason", "sequence"]


@admin.register(ContactOptOut)
class ContactOptOutAdmin(ReadOnlyAdmin):
    """Read-only: buyers opt out by their link (or their CRM says so); an opt-out is never undone."""

    list_display = ["email", "opted_out_at"]
    search_fields = ["email"]


@admin.register(FollowUp)
class FollowUpAdmin(ReadOnlyAdmin):
    """Read-only: follow-ups change through the services (pages, tasks), not here."""

    list_display = ["pk", "deal", "kind", "assignee", "due_at", "state", "attempts"]
    list_filter = ["state", "kind"]
    list_select_related = ["deal", "assignee"]
    search_fields = ["deal__name", "last_error"]
    date_hierarchy = "due_at"


@admin.register(ClosureSequence)
class ClosureSequenceAdmin(ReadOnlyAdmin):
    list_display = ["closure", "sequence", "source"]
    list_select_related = ["closure__deal", "sequence"]
