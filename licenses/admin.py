from django.contrib import admin

from licenses.models import (
    HubCardLicense,
    License,
    LicenseAnalysis,
    LicenseConclusion,
    LicenseObligation,
    LicenseText,
    Obligation,
    ObligationStatus,
)


class LicenseTextInline(admin.StackedInline):
    model = LicenseText
    extra = 0


class LicenseObligationInline(admin.TabularInline):
    model = LicenseObligation
    extra = 0


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "threat_group", "spdx_id", "is_active")
    list_filter = ("threat_group", "is_active")
    search_fields = ("key", "name", "spdx_id")
    inlines = [LicenseObligationInline, LicenseTextInline]


@admin.register(Obligation)
class ObligationAdmin(admin.ModelAdmin):
    list_display = ("term", "meaning")
    search_fields = ("term",)


@admin.register(LicenseAnalysis)
class LicenseAnalysisAdmin(admin.ModelAdmin):
    list_display = ("version", "state", "effective", "threat_group", "conflict", "risk")
    list_filter = ("state", "threat_group", "conflict", "needs_review")
    readonly_fields = [f.name for f in LicenseAnalysis._meta.fields]


@admin.register(LicenseConclusion)
class LicenseConclusionAdmin(admin.ModelAdmin):
    list_display = (
        "version",
        "status",
        "license_expression",
        "application",
        "organization",
        "created_by",
        "created_at",
    )
    readonly_fields = [f.name for f in LicenseConclusion._meta.fields]


@admin.register(ObligationStatus)
class ObligationStatusAdmin(admin.ModelAdmin):
    list_display = ("application", "version", "obligation", "status", "owner")


@admin.register(HubCardLicense)
class HubCardLicenseAdmin(admin.ModelAdmin):
    list_display = ("repo_id", "license", "license_name", "found", "fetched_at")
    list_filter = ("found",)
    search_fields = ("repo_id", "license_name")
    readonly_fields = [f.name for f in HubCardLicense._meta.fields]
