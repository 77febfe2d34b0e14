"""How the Django admin may touch product models: read-only, or through the services.

Every state change goes through a service (history rows and rules included); the product's own
pages are where people make them. A registration here is either `ReadOnlyAdmin` or saves and
deletes through services (tests/test_admin_paths.py walks every registered ModelAdmin)."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Look, never touch: no add, no change, no delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
