from django.contrib import admin

from inventory import models


class ModelFileInline(admin.TabularInline):
    model = models.ModelFile
    extra = 0
    fields = ("path", "size", "sha256", "is_lfs", "format")
    readonly_fields = fields


class BaseModelLinkInline(admin.TabularInline):
    model = models.BaseModelLink
    fk_name = "version"
    extra = 0
    autocomplete_fields = ["base"]


@admin.register(models.Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "parent"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(models.Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "commercial_use", "monthly_active_users", "annual_revenue_band"]
    list_filter = ["organization", "commercial_use", "serves_eu_users", "trains_on_outputs"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(models.Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["repo_id", "source", "author", "pipeline_tag", "is_placeholder", "downloads"]
    list_filter = ["source", "is_placeholder", "pipeline_tag"]
    search_fields = ["repo_id", "author"]
    readonly_fields = ["latest_version"]


@admin.register(models.ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["model", "commit", "ref", "review_status", "scan_verdict", "license_expression", "imported_at"]
    list_filter = ["review_status", "scan_verdict"]
    search_fields = ["model__repo_id", "commit"]
    raw_id_fields = ["model", "imported_by"]
    inlines = [ModelFileInline, BaseModelLinkInline]
    filter_horizontal = ["datasets"]


@admin.register(models.ModelFile)
class ModelFileAdmin(admin.ModelAdmin):
    list_display = ["path", "version", "size", "format", "is_lfs"]
    search_fields = ["path", "sha256", "version__model__repo_id"]
    raw_id_fields = ["version"]


@admin.register(models.Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["repo_id", "flags", "license"]
    search_fields = ["repo_id"]


@admin.register(models.ApplicationModel)
class ApplicationModelAdmin(admin.ModelAdmin):
    list_display = ["application", "version", "added_at"]
    raw_id_fields = ["version"]


@admin.register(models.ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "repo_id", "revision", "state", "created_at", "finished_at"]
    list_filter = ["state", "source"]
    search_fields = ["repo_id", "local_path"]
    raw_id_fields = ["version"]


@admin.register(models.Watch)
class WatchAdmin(admin.ModelAdmin):
    list_display = ["model", "ref", "enabled", "last_checked_at", "last_commit"]
    raw_id_fields = ["model"]


@admin.register(models.BaseModelLink)
class BaseModelLinkAdmin(admin.ModelAdmin):
    list_display = ["version", "base", "relation"]
    raw_id_fields = ["version", "base"]
