"""REST API of the policies app: the same services and FilterSets as the pages."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db.models import Min, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from core import pagecache
from core.api import ScopedBrowsableAPIRenderer
from core.permissions import has_perm, require
from identity.services import gate_application
from inventory.models import Application
from policies import filtersets, gate_reports, services
from policies.api import serializers as s
from policies.models import Approval, Policy, Violation, Waiver


class RestrictedMixin:
    queryset: QuerySet[Any]

    def get_queryset(self) -> QuerySet[Any]:
        return self.queryset.restrict(self.request.user)  # type: ignore[attr-defined]


class PolicyViewSet(RestrictedMixin, viewsets.ModelViewSet):
    """CRUD through the audited services; `impact` previews a change before it is saved."""

    queryset = Policy.objects.with_details()
    serializer_class = s.PolicySerializer
    filterset_class = filtersets.PolicyFilterSet
    ordering_fields = ["name", "threat_level", "updated_at"]
    permission_map = {
        "impact": "policies.view_policy",
        "export": "policies.view_policy",
        "import_yaml": "policies.add_policy",
        "enable": "policies.change_policy",
        "disable": "policies.change_policy",
    }

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        assert isinstance(serializer, s.PolicySerializer)
        serializer.instance = services.create_policy(user=self.request.user, data=serializer.policy_data())

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        assert isinstance(serializer, s.PolicySerializer) and isinstance(serializer.instance, Policy)
        serializer.instance = services.update_policy(
            user=self.request.user, policy=serializer.instance, data=serializer.policy_data()
        )

    def perform_destroy(self, instance: Policy) -> None:
        services.delete_policy(user=self.request.user, policy=instance)

    @extend_schema(request=s.ImpactRequestSerializer, responses=s.ImpactSerializer)
    @action(detail=False, methods=["post"])
    def impact(self, request: Request) -> Response:
        if not (has_perm(request.user, "policies.add_policy") or has_perm(request.user, "policies.change_policy")):
            require(request.user, "policies.change_policy")
        policy = None
        body: Any = request.data
        if isinstance(body, dict) and body.get("policy"):
            try:
                policy_id = int(body["policy"])
            except (TypeError, ValueError):
                return Response({"policy": ["A policy id is a whole number."]}, status=400)
            policy = self.get_queryset().filter(pk=policy_id).first() if 0 < policy_id < 2**63 else None
        serializer = s.ImpactRequestSerializer(data=request.data, instance=policy, partial=policy is not None)
        serializer.is_valid(raise_exception=True)
        impact = services.preview_policy_impact(
            data=serializer.policy_data(), policy=policy, stage=serializer.validated_data.get("stage", "release")
        )
        return Response(s.ImpactSerializer(impact).data)

    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: Any = None) -> Response:
        policy = services.set_policy_enabled(user=request.user, policy=self.get_object(), enabled=True)
        return Response(self.get_serializer(policy).data)

    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: Any = None) -> Response:
        policy = services.set_policy_enabled(user=request.user, policy=self.get_object(), enabled=False)
        return Response(self.get_serializer(policy).data)

    @extend_schema(responses={(200, "application/yaml"): str})
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> HttpResponse:
        """The policies as YAML (the import format), not a JSON string: an HttpResponse skips the renderers."""
        text = services.export_policies(policies=self.filter_queryset(self.get_queryset()))
        return HttpResponse(text, content_type="application/yaml; charset=utf-8")

    @extend_schema(request={"application/yaml": str}, responses=s.PolicySerializer(many=True))
    @action(detail=False, methods=["post"], url_path="import")
    def import_yaml(self, request: Request) -> Response:
        require(request.user, "policies.change_policy")
        text = request.data.get("yaml") if hasattr(request.data, "get") else None
        text = text or request.body.decode("utf-8", errors="replace")
        policies = services.import_policies(user=request.user, text=text)
        return Response(s.PolicySerializer(policies, many=True).data, status=status.HTTP_201_CREATED)


class ViolationViewSet(RestrictedMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Violation.objects.for_list().order_by("-policy__threat_level", "-first_seen_at", "-id")
    serializer_class = s.ViolationSerializer
    filterset_class = filtersets.ViolationFilterSet
    ordering_fields = ["first_seen_at", "policy__threat_level"]


class WaiverViewSet(RestrictedMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Request (POST), then approve / reject / revoke by someone else with the category's reviewer role."""

    queryset = Waiver.objects.for_list()
    serializer_class = s.WaiverSerializer
    filterset_class = filtersets.WaiverFilterSet
    permission_map = {
        "create": "policies.request_waiver",
        "approve": "policies.view_waiver",
        "reject": "policies.view_waiver",
        "revoke": "policies.view_waiver",
    }

    @extend_schema(request=s.WaiverRequestSerializer, responses=s.WaiverSerializer)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.WaiverRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        v = dict(serializer.validated_data)
        violation = v.pop("violation", None)
        waiver = services.request_waiver(user=request.user, source_violation=violation, **v)
        return Response(s.WaiverSerializer(waiver).data, status=status.HTTP_201_CREATED)

    def _decide(self, request: Request, *, approve: bool | None) -> Response:
        waiver = self.get_object()
        serializer = s.DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        comment = serializer.validated_data["comment"]
        if approve is None:
            waiver = services.revoke_waiver(user=request.user, waiver=waiver, comment=comment)
        else:
            waiver = services.decide_waiver(user=request.user, waiver=waiver, approve=approve, comment=comment)
        return Response(s.WaiverSerializer(waiver).data)

    @extend_schema(request=s.DecisionSerializer, responses=s.WaiverSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: Any = None) -> Response:
        return self._decide(request, approve=True)

    @extend_schema(request=s.DecisionSerializer, responses=s.WaiverSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: Any = None) -> Response:
        return self._decide(request, approve=False)

    @extend_schema(request=s.DecisionSerializer, responses=s.WaiverSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: Any = None) -> Response:
        return self._decide(request, approve=None)


class ApprovalViewSet(RestrictedMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """POST {version, decision: approved|rejected, reason}; refused while a release-failing violation is open."""

    queryset = Approval.objects.select_related("decided_by")
    serializer_class = s.ApprovalSerializer
    filterset_fields = ["version", "decision", "is_current"]
    permission_map = {"create": "policies.approve_version"}

    @extend_schema(request=s.ApprovalRequestSerializer, responses=s.ApprovalSerializer)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.ApprovalRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        v = serializer.validated_data
        if v["decision"] == "approved":
            approval = services.approve_version(
                user=request.user,
                version=v["version"],
                reason=v["reason"],
                despite_open_legal_review=v["despite_open_legal_review"],
            )
        else:
            approval = services.reject_version(user=request.user, version=v["version"], reason=v["reason"])
        return Response(s.ApprovalSerializer(approval).data, status=status.HTTP_201_CREATED)


class GateReportRenderer(BaseRenderer):
    """The gate's answer as a CI report (`?format=sarif|junit` or the Accept header); errors stay JSON."""

    fmt = ""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        ctx = renderer_context or {}
        response, view = ctx.get("response"), ctx.get("view")
        report = getattr(view, "report_context", None)
        if response is None or response.status_code != 200 or report is None:
            return JSONRenderer().render(data)
        body, _media = gate_reports.render(data, fmt=self.fmt, **report)
        return body.encode("utf-8")


class SarifRenderer(GateReportRenderer):
    media_type = gate_reports.SARIF_MEDIA_TYPE
    format = fmt = "sarif"


class JUnitRenderer(GateReportRenderer):
    media_type = gate_reports.JUNIT_MEDIA_TYPE
    format = fmt = "junit"


class GateView(APIView):
    """`POST /api/v1/gate` per DESIGN.md: `{"action", "violations", "identity": {"verified", "mismatches"}}`.

    Also as SARIF 2.1.0 or JUnit XML (`?format=sarif|junit`, or Accept: application/sarif+json |
    application/xml); every answer carries `X-Modelgate-Action` and `X-Modelgate-Verified` headers so a
    client reading a report still knows the verdict. A CI token answers only inside its scope.
    """

    permission_map = {"POST": "policies.use_gate"}
    renderer_classes = [JSONRenderer, ScopedBrowsableAPIRenderer, SarifRenderer, JUnitRenderer]
    report_context: dict[str, Any] | None = None

    @extend_schema(request=s.GateRequestSerializer, responses=s.GateResponseSerializer)
    def post(self, request: Request) -> Response:
        # The same question from the same principal, with no governance data changed since: the same answer
        # (core/pagecache.py), never kept past the next waiver expiry or MODELGATE_GATE_CACHE_SECONDS.
        token = getattr(request.user, "ci_token", None)
        principal = f"token:{token.pk}" if token is not None else f"user:{request.user.pk}"
        body = hashlib.sha256(request.body).hexdigest()
        (result, self.report_context), hit = pagecache.remember(
            "gate", (principal, body), lambda: self._answer(request), ttl=_gate_ttl
        )
        response = Response(result)
        response["X-Modelgate-Action"] = result["action"]
        response["X-Modelgate-Verified"] = "true" if result["identity"]["verified"] else "false"
        response[pagecache.HEADER] = "hit" if hit else "miss"
        return response

    def _answer(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        serializer = s.GateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        v = serializer.validated_data
        application: Application | None = v.get("application")
        if getattr(request.user, "ci_token", None) is not None:
            application = gate_application(user=request.user, application=application)
        elif (
            application is not None
            and not Application.objects.restrict(request.user, "policies.use_gate").filter(pk=application.pk).exists()
        ):
            application = None
        files = [dict(f) for f in v.get("files", [])] or None
        result = services.check_gate(
            user=request.user,
            repo_id=v["repo_id"],
            revision=v["revision"],
            stage=v["stage"],
            application=application,
            files=files,
        )
        report = {
            "target": f"{v['repo_id']}@{v['revision']}",
            "stage": v["stage"],
            "policies": gate_reports.evaluated_policies(application=application, stage=v["stage"]),
            "files": [f["path"] for f in files or []],
        }
        return result, report


def _gate_ttl(_answer: Any) -> float:
    """Seconds a gate answer may be reused: MODELGATE_GATE_CACHE_SECONDS, and never past the moment the
    next waiver in force expires (the answer may change then without any write)."""
    now = timezone.now()
    seconds = float(settings.MODELGATE_GATE_CACHE_SECONDS)
    expiry = Waiver.objects.in_force(now).filter(expires_at__gt=now).aggregate(m=Min("expires_at"))["m"]
    if expiry is not None:
        seconds = min(seconds, (expiry - now).total_seconds())
    return seconds
