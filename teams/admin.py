from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from knox.models import AuthToken

from closedlost.admin import ReadOnlyAdmin, ReadOnlyInline
from teams import services
from teams.models import Membership, Team, User


class MembershipInline(ReadOnlyInline):
    model = Membership


@admin.register(User)
class ClosedLostUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Sales role", {"fields": ("role",)}),)
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active")
    list_filter = ("role", "is_active", "is_superuser")
    inlines = [MembershipInline]
    # Deactivation hands work over and ends sessions and tokens: only the people pages do it
    # (people.offboarding), never a checkbox here.
    readonly_fields = ("is_active",)

    # Read-only: people, roles and teams change on /people/ (people.services, with history).
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    """Read-only: teams are made and renamed on /people/teams/ (people.team_services)."""

    inlines = [MembershipInline]
    search_fields = ["name"]


# Tokens are issued by the API and create_integration_token, which show them once; here an
# admin sees who holds which (by prefix) until when and when each was last used, and revokes one
# by deleting it (through teams.services).
admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("token_key", "user", "created", "expiry", "last_used")
    list_select_related = ("user", "use")
    search_fields = ("token_key", "user__username")
    fields = readonly_fields = ("token_key", "user", "created", "expiry", "last_used")

    @admin.display(description="Last used (UTC)")
    def last_used(self, obj):
        use = getattr(obj, "use", None)
        return f"{use.last_used_at:%Y-%m-%d %H:%M}" if use else "never"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.api_tokens_revoke(tokens=[obj])

    def delete_queryset(self, request, queryset):
        services.api_tokens_revoke(tokens=list(queryset))
