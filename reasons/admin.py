"""Read-only: the taxonomy changes on its own pages (/taxonomy/), through reasons.services, which
keep its rules (codes never reused, reasons retired not deleted, merges) and its history."""

from django.contrib import admin

from closedlost.admin import ReadOnlyAdmin
from reasons.models import Competitor, Reason, ReasonCategory, TaxonomyChange


@admin.register(ReasonCategory)
class ReasonCategoryAdmin(ReadOnlyAdmin):
    list_display = ("name", "code", "order")


@admin.register(Reason)
class ReasonAdmin(ReadOnlyAdmin):
    list_display = (
        "label",
        "code",
        "kind",
        "category",
        "active",
        "requires_competitor",
        "requires_note",
        "is_catch_all",
        "is_disqualifying",
    )
    list_filter = ("kind", "category", "active")
    search_fields = ("label", "code")


@admin.register(Competitor)
class CompetitorAdmin(ReadOnlyAdmin):
    list_display = ("name", "active")
    search_fields = ("name",)


@admin.register(TaxonomyChange)
class TaxonomyChangeAdmin(ReadOnlyAdmin):
    """The history is append-only (the taxonomy pages write it through reasons.services)."""

    list_display = ("at", "actor", "action", "subject", "subject_label")
    list_filter = ("action", "subject")
    search_fields = ("subject_label",)
