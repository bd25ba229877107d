from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from inventory.local import LocalImportError, check_import_root
from inventory.models import (
    Application,
    ApplicationModel,
    BaseModelLink,
    Dataset,
    ImportJob,
    Model,
    ModelFile,
    ModelVersion,
    Organization,
    Watch,
)


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", *Organization.EDITABLE_FIELDS, "created_at", "updated_at"]


class ApplicationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Application
        fields = ["id", *Application.EDITABLE_FIELDS, "created_at", "updated_at"]


class ModelFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelFile
        fields = ["id", "path", "size", "sha256", "blob_id", "is_lfs", "format"]


class BaseModelLinkSerializer(serializers.ModelSerializer):
    repo_id = serializers.CharField(source="base.repo_id")
    model = serializers.IntegerField(source="base_id")

    class Meta:
        model = BaseModelLink
        fields = ["repo_id", "model", "relation"]


class ModelVersionSerializer(serializers.ModelSerializer):
    repo_id = serializers.CharField(source="model.repo_id", read_only=True)
    base_models = BaseModelLinkSerializer(source="base_links", many=True, read_only=True)
    datasets: serializers.RelatedField = serializers.SlugRelatedField(slug_field="repo_id", many=True, read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "repo_id",
            "commit",
            "ref",
            "imported_at",
            "review_status",
            "license_expression",
            "scan_verdict",
            "total_size",
            "base_models",
            "datasets",
        ]


class ModelVersionDetailSerializer(ModelVersionSerializer):
    files = ModelFileSerializer(many=True, read_only=True)

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "card_data", "files"]


class ModelSerializer(serializers.ModelSerializer):
    latest_version = ModelVersionSerializer(read_only=True)

    class Meta:
        model = Model
        fields = [
            "id",
            "source",
            "repo_id",
            "author",
            "tags",
            "pipeline_tag",
            "library_name",
            "gated",
            "private",
            "downloads",
            "likes",
            "hub_created_at",
            "hub_last_modified",
            "is_placeholder",
            "latest_version",
        ]


class ModelDetailSerializer(ModelSerializer):
    class Meta(ModelSerializer.Meta):
        fields = [*ModelSerializer.Meta.fields, "card_data", "card_markdown"]


class DatasetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = ["id", "repo_id", "flags", "license", "notes"]
        read_only_fields = ["repo_id"]


class UsageSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApplicationModel
        fields = ["id", "application", "version", "notes", "added_at"]


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = [
            "id",
            "source",
            "repo_id",
            "revision",
            "local_path",
            "application",
            "state",
            "step",
            "error",
            "error_kind",
            "attempts",
            "version",
            "created_version",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ImportRequestSerializer(serializers.Serializer):
    repo_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
    revision = serializers.CharField(required=False, default="main", max_length=200)
    local_path = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    application = serializers.PrimaryKeyRelatedField(
        queryset=Application.objects.all(), required=False, allow_null=True
    )

    def validate(self, attrs: dict) -> dict:
        if not (attrs.get("repo_id") or "").strip() and not (attrs.get("local_path") or "").strip():
            raise serializers.ValidationError("Give repo_id or local_path.")
        if local := (attrs.get("local_path") or "").strip():
            try:
                check_import_root(local, settings.MODELGATE_LOCAL_IMPORT_ROOTS)
            except LocalImportError as exc:
                raise serializers.ValidationError({"local_path": [str(exc)]}) from exc
        return attrs


class WatchSerializer(serializers.ModelSerializer):
    class Meta:
        model = Watch
        fields = ["id", "model", "ref", "application", "enabled", "last_checked_at", "last_commit", "last_error"]
        read_only_fields = ["last_checked_at", "last_commit", "last_error"]
