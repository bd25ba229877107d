from __future__ import annotations

from typing import Any

from rest_framework import serializers

from inventory.models import Application, ModelVersion, Organization
from licenses.choices import ConclusionStatus
from licenses.models import License, LicenseAnalysis, LicenseConclusion, LicenseEvidence, LicenseObligation, Obligation


class LicenseObligationSerializer(serializers.ModelSerializer):
    term = serializers.CharField(source="obligation.term")

    class Meta:
        model = LicenseObligation
        fields = ["term", "clause", "quote"]


class LicenseSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="key")
    component_of = serializers.SlugRelatedField(
        slug_field="key", queryset=License.objects.all(), allow_null=True, required=False
    )
    obligations = LicenseObligationSerializer(source="license_obligations", many=True, read_only=True)

    class Meta:
        model = License
        fields = [
            "id", "spdx_id", "name", "family", "threat_group", "aliases", "reference_names", "urls", "component_of",
            "notice", "display_attribution", "naming_prefix", "binds_output_trained", "is_active", "notes",
            "obligations", "text", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["updated_at"]

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        if "key" in value:
            value["key"] = value["key"].strip()
        return value


class ObligationSerializer(serializers.ModelSerializer):
    licenses = serializers.SerializerMethodField()

    class Meta:
        model = Obligation
        fields = ["id", "term", "meaning", "licenses"]

    def get_licenses(self, obj: Obligation) -> list[dict[str, str]]:
        return [{"license": lo.license.key, "clause": lo.clause} for lo in obj.license_obligations.all()]


class LicenseEvidenceSerializer(serializers.ModelSerializer):
    license = serializers.CharField(source="license_key")

    class Meta:
        model = LicenseEvidence
        fields = ["id", "path", "license", "match", "score", "coverage", "scope", "start_line", "end_line", "detail"]


class LicenseAnalysisSerializer(serializers.ModelSerializer):
    observed = LicenseEvidenceSerializer(source="evidence", many=True, read_only=True)
    repo_id = serializers.CharField(source="version.model.repo_id", read_only=True)
    commit = serializers.CharField(source="version.commit", read_only=True)

    class Meta:
        model = LicenseAnalysis
        fields = [
            "version", "repo_id", "commit", "state", "error", "declared", "declared_name", "declared_link", "observed",
            "inherited", "own", "effective", "effective_ids", "reason", "obligations", "conflict", "conflicts",
            "threat_group", "needs_review", "risk", "notes", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class LicenseConclusionSerializer(serializers.ModelSerializer):
    version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    application = serializers.PrimaryKeyRelatedField(
        queryset=Application.objects.all(), allow_null=True, required=False
    )
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), allow_null=True, required=False
    )
    status = serializers.ChoiceField(choices=ConclusionStatus.choices)
    created_by: serializers.StringRelatedField = serializers.StringRelatedField(read_only=True)

    class Meta:
        model = LicenseConclusion
        fields = [
            "id", "version", "application", "organization", "status", "license_expression", "detected_effective",
            "comment", "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = ["detected_effective", "created_by", "created_at"]


class UseFitSerializer(serializers.Serializer):
    application = serializers.IntegerField()
    application_name = serializers.CharField()
    permitted = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
