from django.contrib import admin

from identity.models import CIToken


@admin.register(CIToken)
class CITokenAdmin(admin.ModelAdmin):
    """Read-only: tokens are created and revoked through the audited services (the pages)."""

    list_display = ["name", "prefix", "capability", "application", "organization", "expires_at", "revoked_at"]
    readonly_fields = [f.name for f in CIToken._meta.fields]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
