from django.contrib import admin

from reasons.models import Competitor, Reason, ReasonCategory, TaxonomyChange


@admin.register(ReasonCategory)
class ReasonCategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "order")


@admin.register(Reason)
class ReasonAdmin(admin.ModelAdmin):
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

    def has_delete_permission(self, request, obj=None):
        return False  # reasons are retired, never deleted


@admin.register(Competitor)
class CompetitorAdmin(admin.ModelAdmin):
    list_display = ("name", "active")
    search_fields = ("name",)

    def has_delete_permission(self, request, obj=None):
        return False  # competitors are retired or merged, never deleted


@admin.register(TaxonomyChange)
class TaxonomyChangeAdmin(admin.ModelAdmin):
    """Read-only: the history is append-only (the taxonomy pages write it through reasons.services)."""

    list_display = ("at", "actor", "action", "subject", "subject_label")
    list_filter = ("action", "subject")
    search_fields = ("subject_label",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
