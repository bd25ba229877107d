from __future__ import annotations

from typing import Any

from rest_framework import serializers

from scanning.models import Finding, ScanFileResult, ScanRun


class FindingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Finding
        fields = [
            "id",
            "scan_run",
            "path",
            "rule",
            "category",
            "severity",
            "verdict",
            "message",
            "evidence",
            "member",
            "offset",
        ]


class ScanFileResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScanFileResult
        fields = [
            "path",
            "format",
            "verdict",
            "sha256",
            "size",
            "bytes_read",
            "bytes_transferred",
            "seconds",
            "finding_count",
            "error",
        ]


class ScanRunSerializer(serializers.ModelSerializer):
    repo_id = serializers.CharField(source="version.model.repo_id", read_only=True)
    commit = serializers.CharField(source="version.commit", read_only=True)
    requested_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    duration_seconds = serializers.SerializerMethodField()
    url = serializers.HyperlinkedIdentityField(view_name="scanning-api:scanrun-detail")

    class Meta:
        model = ScanRun
        fields = [
            "id",
            "url",
            "version",
            "repo_id",
            "commit",
            "state",
            "verdict",
            "trigger",
            "requested_by",
            "files_total",
            "files_done",
            "bytes_total",
            "bytes_done",
            "bytes_read",
            "bytes_transferred",
            "remote",
            "finding_count",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "scanner_version",
            "rules_version",
            "error",
            "error_kind",
            "attempts",
        ]
        read_only_fields = fields

    def get_duration_seconds(self, obj: ScanRun) -> float | None:
        return obj.duration.total_seconds() if obj.duration is not None else None


class ScanRunDetailSerializer(ScanRunSerializer):
    files = ScanFileResultSerializer(source="file_results", many=True, read_only=True)
    findings = FindingSerializer(many=True, read_only=True)

    class Meta(ScanRunSerializer.Meta):
        fields = [*ScanRunSerializer.Meta.fields, "files", "findings"]
        read_only_fields = fields


class ScanRequestSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="Id of the model version to scan.")

    def to_representation(self, instance: Any) -> Any:  # pragma: no cover - responses use ScanRunSerializer
        return ScanRunSerializer(instance, context=self.context).data
