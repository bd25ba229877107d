from django.contrib import admin

from scanning import models

_FILE_FIELDS = ("path", "format", "verdict", "sha256", "size", "bytes_read", "bytes_transferred", "seconds", "error")


class ScanFileResultInline(admin.TabularInline):
    model = models.ScanFileResult
    extra = 0
    fields = _FILE_FIELDS
    readonly_fields = _FILE_FIELDS
    can_delete = False


@admin.register(models.ScanRun)
class ScanRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "version",
        "state",
        "verdict",
        "trigger",
        "files_done",
        "files_total",
        "finding_count",
        "rules_version",
        "created_at",
        "finished_at",
    ]
    list_filter = ["state", "verdict", "trigger", "rules_version", "remote"]
    search_fields = ["version__model__repo_id", "version__commit"]
    raw_id_fields = ["version", "requested_by"]
    readonly_fields = ["created_at", "started_at", "finished_at", "duration"]
    inlines = [ScanFileResultInline]


@admin.register(models.Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ["id", "scan_run", "path", "rule", "category", "severity", "verdict"]
    list_filter = ["category", "severity", "verdict"]
    search_fields = ["rule", "path", "message", "evidence"]
    raw_id_fields = ["scan_run", "file"]
