from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from teams.models import Membership, Team, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(User)
class ClosedLostUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Sales role", {"fields": ("role",)}),)
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active")
    list_filter = ("role", "is_active", "is_superuser")
    inlines = [MembershipInline]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    inlines = [MembershipInline]
    search_fields = ["name"]
