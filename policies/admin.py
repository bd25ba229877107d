"""Admin: read-mostly views for operators; the waiver reason list is configured here."""

from __future__ import annotations

from django.contrib import admin

from policies.models import Approval, Policy, Violation, Waiver, WaiverReason


@admin.register(WaiverReason)
class WaiverReasonAdmin(admin.ModelAdmin):
    list_display = ["name", "active", "position"]
    list_editable = ["active", "position"]


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    """Policies are edited on the authoring page (audited, with impact preview); read-only here."""

    list_display = ["name", "threat_level", "category", "enabled", "non_waivable", "revision"]
    list_filter = ["category", "enabled"]
    search_fields = ["name"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(Violation)
class ViolationAdmin(admin.ModelAdmin):
    list_display = ["policy", "version", "application", "state", "first_seen_at"]
    list_filter = ["state", "policy__category"]
    raw_id_fields = ["version", "application", "waiver"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Waiver)
class WaiverAdmin(admin.ModelAdmin):
    list_display = ["pk", "policy", "scope", "owner", "state", "expires_at", "requested_by", "decided_by"]
    list_filter = ["state", "scope", "owner"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Approval)
class ApprovalAdmin(admin.ModelAdmin):
    list_display = ["version", "decision", "decided_by", "decided_at", "is_current"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
