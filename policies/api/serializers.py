"""REST representations. Serializers shape data; services decide."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from inventory.models import Application, Model, ModelVersion, Organization
from policies.choices import Action, ScopeKind, Stage, WaiverScope
from policies.models import Approval, Policy, Violation, Waiver, WaiverReason
from policies.services import PolicyData, constraints_of


class ConditionSerializer(serializers.Serializer):
    fact = serializers.CharField()
    operator = serializers.CharField()
    value = serializers.JSONField(required=False, allow_null=True)
    negate = serializers.BooleanField(default=False)


class ConstraintSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    match = serializers.ChoiceField(choices=["any", "all"], default="all")
    conditions = ConditionSerializer(many=True)


class PolicySerializer(serializers.ModelSerializer):
    band = serializers.CharField(read_only=True)
    scope = serializers.CharField(source="scope_kind", read_only=True)
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True
    )
    application = serializers.PrimaryKeyRelatedField(
        queryset=Application.objects.all(), required=False, allow_null=True
    )
    actions = serializers.DictField(child=serializers.ChoiceField(choices=Action.values), required=False)
    constraints = ConstraintSerializer(many=True)

    class Meta:
        model = Policy
        fields = [
            "id", "name", "description", "threat_level", "band", "category", "scope", "organization", "application",
            "enabled", "non_waivable", "actions", "constraints", "revision", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["category", "revision", "created_at", "updated_at"]

    def to_representation(self, instance: Policy) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["actions"] = instance.actions()
        data["constraints"] = constraints_of(instance)
        return data

    def validate_actions(self, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(Stage.values)
        if unknown:
            raise serializers.ValidationError(f"Unknown stages: {', '.join(sorted(unknown))}")
        return value

    def policy_data(self) -> PolicyData:
        v = self.validated_data
        instance: Policy | None = self.instance
        base = PolicyData.from_policy(instance) if instance is not None else None
        return PolicyData(
            name=v.get("name", base.name if base else ""),
            description=v.get("description", base.description if base else ""),
            threat_level=v.get("threat_level", base.threat_level if base else 0),
            enabled=v.get("enabled", base.enabled if base else True),
            non_waivable=v.get("non_waivable", base.non_waivable if base else False),
            organization=v.get("organization", base.organization if base else None),
            application=v.get("application", base.application if base else None),
            actions={**(base.actions if base else {}), **v.get("actions", {})},
            constraints=[dict(k, conditions=[dict(c) for c in k["conditions"]]) for k in v["constraints"]]
            if "constraints" in v
            else (base.constraints if base else []),
        )


class ImpactRequestSerializer(PolicySerializer):
    name = serializers.CharField(max_length=150)  # no uniqueness check: nothing is saved
    stage = serializers.ChoiceField(choices=Stage.values, default=Stage.RELEASE, write_only=True)
    policy = serializers.PrimaryKeyRelatedField(queryset=Policy.objects.all(), required=False, allow_null=True)

    class Meta(PolicySerializer.Meta):
        fields = [*PolicySerializer.Meta.fields, "stage", "policy"]


class VersionRefSerializer(serializers.ModelSerializer):
    repo_id = serializers.CharField(source="model.repo_id")

    class Meta:
        model = ModelVersion
        fields = ["id", "repo_id", "commit", "review_status"]


class ImpactSerializer(serializers.Serializer):
    stage = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    matched_versions = serializers.IntegerField()
    newly_fail = VersionRefSerializer(many=True)
    newly_warn = VersionRefSerializer(many=True)
    cleared = VersionRefSerializer(many=True)


class ViolationSerializer(serializers.ModelSerializer):
    policy_name = serializers.CharField(source="policy.name", read_only=True)
    threat_level = serializers.IntegerField(source="policy.threat_level", read_only=True)
    category = serializers.CharField(source="policy.category", read_only=True)
    repo_id = serializers.CharField(source="version.model.repo_id", read_only=True)
    commit = serializers.CharField(source="version.commit", read_only=True)
    actions = serializers.SerializerMethodField()

    class Meta:
        model = Violation
        fields = [
            "id", "policy", "policy_name", "threat_level", "category", "version", "repo_id", "commit", "application",
            "state", "matched", "waiver", "actions", "first_seen_at", "opened_at", "resolved_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_actions(self, obj: Violation) -> dict[str, str]:
        return obj.policy.actions()


class WaiverSerializer(serializers.ModelSerializer):
    policy_name = serializers.CharField(source="policy.name", read_only=True)
    reason: serializers.SlugRelatedField[WaiverReason] = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()
    decided_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = Waiver
        fields = [
            "id", "policy", "policy_name", "scope", "version", "model", "owner", "organization", "application",
            "state", "reason", "comment", "expires_at", "requested_by", "requested_at", "decided_by", "decided_at",
            "decision_comment", "source_violation",
        ]  # fmt: skip
        read_only_fields = fields


class WaiverRequestSerializer(serializers.Serializer):
    violation = serializers.PrimaryKeyRelatedField(queryset=Violation.objects.all(), required=False, allow_null=True)
    policy = serializers.PrimaryKeyRelatedField(queryset=Policy.objects.all(), required=False)
    scope = serializers.ChoiceField(choices=WaiverScope.values, default=WaiverScope.VERSION)
    version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all(), required=False, allow_null=True)
    model = serializers.PrimaryKeyRelatedField(queryset=Model.objects.all(), required=False, allow_null=True)
    owner = serializers.ChoiceField(choices=ScopeKind.values, default=ScopeKind.ROOT)
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True
    )
    application = serializers.PrimaryKeyRelatedField(
        queryset=Application.objects.all(), required=False, allow_null=True
    )
    expires_on = serializers.DateField()
    reason = serializers.SlugRelatedField(slug_field="name", queryset=WaiverReason.objects.filter(active=True))
    comment = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        violation = attrs.get("violation")
        if violation is not None:
            attrs.setdefault("policy", violation.policy)
            attrs["version"] = attrs.get("version") or violation.version
            attrs["model"] = attrs.get("model") or violation.version.model
        if not attrs.get("policy"):
            raise serializers.ValidationError({"policy": "Give a policy or a violation."})
        if attrs.get("model") is None and attrs.get("version") is not None:
            attrs["model"] = attrs["version"].model
        return attrs


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ApprovalSerializer(serializers.ModelSerializer):
    decided_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = Approval
        fields = ["id", "version", "decision", "reason", "decided_by", "decided_at", "pinned_files", "is_current",
                  "reopened_at", "reopen_reason"]  # fmt: skip
        read_only_fields = fields


class ApprovalRequestSerializer(serializers.Serializer):
    version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    decision = serializers.ChoiceField(choices=["approved", "rejected"])
    reason = serializers.CharField()
    despite_open_legal_review = serializers.BooleanField(
        default=False, help_text="Required to approve while the version's legal review is open."
    )


class FileHashSerializer(serializers.Serializer):
    path = serializers.CharField()
    sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$")


class GateRequestSerializer(serializers.Serializer):
    repo_id = serializers.CharField()
    revision = serializers.CharField(default="main")
    stage = serializers.ChoiceField(choices=Stage.values)
    application = serializers.CharField(required=False, allow_blank=True, help_text="Application slug or id.")
    files = FileHashSerializer(many=True, required=False)

    def validate_application(self, value: str) -> Application | None:
        if not value:
            return None
        qs = Application.objects.all()
        app = qs.filter(slug=value).first() or (qs.filter(pk=int(value)).first() if value.isdigit() else None)
        if app is None:
            raise serializers.ValidationError("Unknown application.")
        return app


class GateApprovalSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["approved", "rejected", "pending"])
    by = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)


class GateResponseSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=Action.values)
    violations = serializers.ListField(child=serializers.DictField())
    identity = serializers.DictField()
    approval = GateApprovalSerializer(required=False, help_text="The version's current review decision.")
    stages = serializers.DictField(
        child=serializers.ChoiceField(choices=Action.values), required=False, help_text="{stage: action}"
    )
    url = serializers.URLField(required=False, help_text="The version's page.")
    import_job = serializers.DictField(
        required=False, help_text="Only for a model the inventory has never seen: the import job queued for it."
    )
