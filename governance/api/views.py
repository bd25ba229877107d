"""REST endpoints of the governance app: audit log, overview figures, ML-BOMs, CSV exports,
notification preferences, webhooks and their deliveries, risk snapshots."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import AuditEvent
from governance import notifications
from governance.models import NotificationEvent, RiskSnapshot, Webhook, WebhookDelivery
from inventory.models import Application, ModelVersion


class AuditEventSerializer(serializers.ModelSerializer):
    target_type = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "actor_repr", "action", "target_type", "target_id", "target_repr", "reason",
                  "before", "after", "extra"]  # fmt: skip

    def get_target_type(self, obj: AuditEvent) -> str:
        return f"{obj.target_type.app_label}.{obj.target_type.model}" if obj.target_type else ""


class AuditEventListAPIView(generics.ListAPIView):
    """The append-only audit log (newest first). Filter with ?action=prefix&target_type=app.model&target_id=."""

    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.all()
    permission_map = {"GET": "core.view_auditevent"}

    def get_queryset(self):  # type: ignore[no-untyped-def]
        qs = AuditEvent.objects.restrict(self.request.user).select_related("target_type")
        params = self.request.query_params
        if action := params.get("action"):
            qs = qs.filter(action__startswith=action)
        if (ttype := params.get("target_type")) and "." in ttype:
            app_label, model = ttype.split(".", 1)
            qs = qs.filter(target_type__app_label=app_label, target_type__model=model)
        if target_id := params.get("target_id"):
            qs = qs.filter(target_id=target_id)
        return qs


# --- overview -------------------------------------------------------------------------------------

_SCOPE_PARAMS = [
    OpenApiParameter("organization", int, description="Organization id (its descendants included)."),
    OpenApiParameter("application", int, description="Application id."),
]


class BandFigureSerializer(serializers.Serializer):
    band = serializers.CharField()
    count = serializers.IntegerField()
    risk = serializers.IntegerField()


class CategoryFigureSerializer(serializers.Serializer):
    category = serializers.CharField()
    count = serializers.IntegerField()
    risk = serializers.IntegerField()


class RiskRowSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField(required=False)
    repo_id = serializers.CharField(required=False)
    organization_id = serializers.IntegerField(required=False)
    risk = serializers.IntegerField()
    count = serializers.IntegerField()


class MttrSerializer(serializers.Serializer):
    band = serializers.CharField()
    resolved = serializers.IntegerField()
    hours = serializers.FloatField(allow_null=True)


class TrendPointSerializer(serializers.Serializer):
    day = serializers.DateField()
    risk = serializers.IntegerField()


class LicenseGroupSerializer(serializers.Serializer):
    threat_group = serializers.CharField()
    versions = serializers.IntegerField()


class OverviewFiltersSerializer(serializers.Serializer):
    organization = serializers.IntegerField(allow_null=True)
    application = serializers.IntegerField(allow_null=True)


class OverviewSerializer(serializers.Serializer):
    filters = OverviewFiltersSerializer()
    total_risk = serializers.IntegerField(help_text="Σ threat level of open, unwaived violations.")
    open = serializers.IntegerField()
    waived = serializers.IntegerField()
    resolved = serializers.IntegerField()
    by_band = BandFigureSerializer(many=True)
    by_category = CategoryFigureSerializer(many=True)
    organizations = RiskRowSerializer(many=True)
    applications = RiskRowSerializer(many=True)
    models = RiskRowSerializer(many=True)
    mean_time_to_resolve = MttrSerializer(many=True)
    trend = TrendPointSerializer(many=True)
    licenses = LicenseGroupSerializer(many=True)
    awaiting_review = serializers.IntegerField()
    waivers_expiring = serializers.IntegerField()


class OverviewAPIView(APIView):
    """The risk overview's figures (the same numbers as the page), optionally filtered."""

    permission_map = {"GET": "governance.view_overview"}

    @extend_schema(parameters=_SCOPE_PARAMS, responses=OverviewSerializer)
    def get(self, request: Request) -> Response:
        from governance.overview import overview_figures

        figures = overview_figures(
            request.user,
            organization=request.query_params.get("organization"),
            application=request.query_params.get("application"),
        )
        return Response(figures.as_dict())


class RiskSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskSnapshot
        fields = ["day", "total_risk", "open_count", "waived_count", "by_band", "by_category", "by_organization",
                  "by_application", "taken_at"]  # fmt: skip


class RiskSnapshotListAPIView(generics.ListAPIView):
    """Daily risk snapshots (newest first), taken by the `governance.take_risk_snapshot` beat task."""

    serializer_class = RiskSnapshotSerializer
    queryset = RiskSnapshot.objects.all()
    permission_map = {"GET": "governance.view_overview"}
    filter_backends: list[Any] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        # Installation-wide figures: global roles only (a membership role reads its overview instead).
        return RiskSnapshot.objects.restrict(self.request.user, "governance.view_overview")


# --- ML-BOM and CSV exports -------------------------------------------------------------------------

_BOM_RESPONSE = {
    (200, "application/vnd.cyclonedx+json"): OpenApiResponse(
        OpenApiTypes.OBJECT, description="CycloneDX 1.6 ML-BOM (JSON), valid against the official schema."
    ),
}


class VersionBomAPIView(APIView):
    """CycloneDX 1.6 ML-BOM of one model version (violations of the root context as VEX)."""

    permission_map = {"GET": "inventory.view_modelversion"}

    @extend_schema(responses={**_BOM_RESPONSE, 404: OpenApiResponse(description="No such version.")})
    def get(self, request: Request, pk: int) -> Response:
        from governance import bom

        version = get_object_or_404(ModelVersion.objects.restrict(request.user), pk=pk)
        return Response(bom.version_bom(version, with_violations=bom.sees_root_context(request.user)))


class ApplicationBomAPIView(APIView):
    """CycloneDX 1.6 ML-BOM of an application: every version it uses (its violations as VEX)."""

    permission_map = {"GET": "inventory.view_application"}

    @extend_schema(responses={**_BOM_RESPONSE, 404: OpenApiResponse(description="No such application.")})
    def get(self, request: Request, pk: int) -> Response:
        from governance import bom

        app = get_object_or_404(Application.objects.restrict(request.user).select_related("organization"), pk=pk)
        return Response(bom.application_bom(app))


_CSV = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, streamed.")}


class ViolationExportAPIView(APIView):
    """CSV of violations; accepts the violation list's filters (`state` defaults to open; `state=all`)."""

    permission_map = {"GET": "policies.view_violation"}

    @extend_schema(
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in (
                "q",
                "organization",
                "application",
                "root",
                "policy",
                "category",
                "band",
                "state",
                "age",
                "version",
            )
        ],
        responses=_CSV,
    )
    def get(self, request: Request) -> Any:
        from governance import exports

        return exports.violations_response(request.user, request.query_params)


class WaiverExportAPIView(APIView):
    """CSV of waivers; accepts the waiver list's filters (`tab`, `state`, `policy`, `category`)."""

    permission_map = {"GET": "policies.view_waiver"}

    @extend_schema(
        parameters=[OpenApiParameter(name, str, required=False) for name in ("tab", "state", "policy", "category")],
        responses=_CSV,
    )
    def get(self, request: Request) -> Any:
        from governance import exports

        return exports.waivers_response(request.user, request.query_params)


# --- notifications ----------------------------------------------------------------------------------


class NotificationPreferenceSerializer(serializers.Serializer):
    email_events = serializers.ListField(
        child=serializers.ChoiceField(choices=NotificationEvent.choices),
        help_text="Events sent by email at once; events your role cannot see are dropped.",
    )
    daily_digest = serializers.BooleanField()
    available_events = serializers.ListField(child=serializers.CharField(), read_only=True)


class NotificationPreferenceAPIView(APIView):
    """Your own notification preferences."""

    def get_permissions(self) -> list[Any]:
        return [_CanReceive()]

    @extend_schema(responses=NotificationPreferenceSerializer)
    def get(self, request: Request) -> Response:
        prefs = notifications.preferences_of(request.user)
        return Response({"email_events": prefs.email_events, "daily_digest": prefs.daily_digest,
                         "available_events": notifications.events_for(request.user)})  # fmt: skip

    @extend_schema(request=NotificationPreferenceSerializer, responses=NotificationPreferenceSerializer)
    def put(self, request: Request) -> Response:
        serializer = NotificationPreferenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        notifications.set_preferences(user=request.user, email_events=serializer.validated_data["email_events"],
                                      daily_digest=serializer.validated_data["daily_digest"])  # fmt: skip
        return self.get(request)


class _CanReceive:
    """Any user whose role receives at least one kind of notification may edit their own preferences."""

    message = "Your role receives no notifications."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and notifications.can_receive(request.user))

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return True


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=NotificationEvent.choices), required=False,
                                   help_text="Empty: every event.")  # fmt: skip
    secret = serializers.CharField(required=False, write_only=True, min_length=16, max_length=128,
                                   help_text="Generated when omitted; shown once in the create response.")  # fmt: skip

    class Meta:
        model = Webhook
        fields = ["id", "name", "url", "events", "active", "secret", "created_at"]
        read_only_fields = ["created_at"]

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Only http(s) URLs.")
        try:
            notifications.check_webhook_url(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "webhook", "event", "payload", "state", "attempts", "response_status", "error", "created_at",
                  "last_attempt_at", "delivered_at"]  # fmt: skip


class WebhookViewSet(viewsets.ModelViewSet):
    """Webhooks: HMAC-SHA256-signed JSON POSTs (`X-Modelgate-Signature: sha256=…`), retried with backoff."""

    serializer_class = WebhookSerializer
    queryset = Webhook.objects.all()
    permission_map = {"ping": "governance.change_webhook", "deliveries": "governance.view_webhook"}
    filter_backends: list[Any] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return Webhook.objects.restrict(self.request.user).order_by("name", "id")

    @extend_schema(responses={201: WebhookCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hook = notifications.create_webhook(user=request.user, **serializer.validated_data)
        return Response(WebhookCreatedSerializer(hook).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        assert isinstance(serializer.instance, Webhook)
        serializer.instance = notifications.update_webhook(
            user=self.request.user, webhook=serializer.instance, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance: Webhook) -> None:
        notifications.delete_webhook(user=self.request.user, webhook=instance)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def ping(self, request: Request, pk: Any = None) -> Response:
        """Queue a `ping` delivery to this webhook."""
        delivery = notifications.ping_webhook(webhook=self.get_object(), user=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: Any = None) -> Response:
        """The webhook's deliveries, newest first."""
        qs = WebhookDelivery.objects.filter(webhook=self.get_object()).order_by("-created_at", "-id")
        page = self.paginate_queryset(qs)
        data = WebhookDeliverySerializer(page if page is not None else qs, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)


class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every webhook delivery with its state (pending / retrying / succeeded / failed)."""

    serializer_class = WebhookDeliverySerializer
    queryset = WebhookDelivery.objects.all()
    permission_map = {"list": "governance.view_webhook", "retrieve": "governance.view_webhook"}
    filter_backends: list[Any] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if not self.request.user.has_perm("governance.view_webhook"):
            return WebhookDelivery.objects.none()
        return WebhookDelivery.objects.select_related("webhook").order_by("-created_at", "-id")
