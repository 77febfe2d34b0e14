from django.contrib import admin, messages

from closedlost.admin import ReadOnlyAdmin, ReadOnlyInline
from followups.models import (
    ClosureSequence,
    ContactOptOut,
    FollowUp,
    NurtureSequence,
    NurtureStep,
    ReasonSequenceDefault,
)


class NurtureStepInline(ReadOnlyInline):
    model = NurtureStep
    fields = ["position", "days_after_close", "action", "subject", "body"]


class ReasonSequenceDefaultInline(ReadOnlyInline):
    model = ReasonSequenceDefault
    autocomplete_fields = []
    verbose_name = "reason starting this sequence by default"
    verbose_name_plural = "reasons starting this sequence by default"


def _warn_stored_problems(request, steps) -> None:
    """Steps saved before the placeholder check (or behind it) that name forbidden fields: they
    go out with those placeholders empty, and the admin is told which."""
    for step in steps:
        problems = step.buyer_template_problems()
        if problems:
            messages.warning(request, f"{step} goes out with these placeholders empty: {problems}")


@admin.register(NurtureSequence)
class NurtureSequenceAdmin(ReadOnlyAdmin):
    """Read-only: sequences and steps change on /follow-ups/setup/ (followups.setup, history)."""

    list_display = ["name", "active", "buyer_problems"]
    list_filter = ["active"]
    search_fields = ["name"]
    inlines = [NurtureStepInline, ReasonSequenceDefaultInline]

    @admin.display(description="E-mails to buyers")
    def buyer_problems(self, obj):
        bad = [s for s in obj.steps.all() if s.buyer_template_problems()]
        return f"{len(bad)} step(s) name fields buyers may not see" if bad else "OK"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("steps")

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            _warn_stored_problems(
                request, NurtureStep.objects.filter(action="contact_email").select_related("sequence")
            )
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET" and str(object_id).isdigit():
            steps = NurtureStep.objects.filter(sequence_id=object_id, action="contact_email").select_related(
                "sequence"
            )
            _warn_stored_problems(request, steps)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(ReasonSequenceDefault)
class ReasonSequenceDefaultAdmin(ReadOnlyAdmin):
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
