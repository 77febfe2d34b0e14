from django.contrib import admin

from reasons.models import Competitor, Reason, ReasonCategory


@admin.register(ReasonCategory)
class ReasonCategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "order")


@admin.register(Reason)
class ReasonAdmin(admin.ModelAdmin):
    list_display = ("label", "code", "kind", "category", "active", "requires_competitor", "requires_note")
    list_filter = ("kind", "category", "active")
    search_fields = ("label", "code")

    def has_delete_permission(self, request, obj=None):
        return False  # reasons are retired, never deleted


@admin.register(Competitor)
class CompetitorAdmin(admin.ModelAdmin):
    list_display = ("name", "active")
    search_fields = ("name",)
