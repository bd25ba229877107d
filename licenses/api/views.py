from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from inventory.models import Application, ApplicationModel, ModelVersion
from licenses import filtersets, services
from licenses.api import serializers as s
from licenses.models import License, LicenseAnalysis, LicenseConclusion, Obligation


class RestrictedViewSetMixin:
    queryset: QuerySet[Any]

    def get_queryset(self) -> QuerySet[Any]:
        return self.queryset.restrict(self.request.user)  # type: ignore[attr-defined]


class LicenseViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The license catalog; edits are audited and re-analyse every version."""

    queryset = License.objects.select_related("component_of").prefetch_related("license_obligations__obligation")
    serializer_class = s.LicenseSerializer
    filterset_class = filtersets.LicenseFilterSet
    lookup_field = "key"
    lookup_value_regex = "[^/]+"
    ordering_fields = ["key", "threat_group"]

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.save_license(actor=self.request.user, data=dict(serializer.validated_data))

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.save_license(
            actor=self.request.user, data=dict(serializer.validated_data), license=serializer.instance
        )


class ObligationViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Obligation.objects.prefetch_related("license_obligations__license")
    serializer_class = s.ObligationSerializer
    filterset_class = filtersets.ObligationFilterSet

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        serializer.instance = services.save_obligation(
            actor=self.request.user, term=data["term"], meaning=data.get("meaning", "")
        )

    def perform_update(self, serializer: Any) -> None:
        data = serializer.validated_data
        serializer.instance = services.save_obligation(
            actor=self.request.user,
            term=data.get("term", serializer.instance.term),
            meaning=data.get("meaning", serializer.instance.meaning),
            obligation=serializer.instance,
        )


class LicenseAnalysisViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """License analyses, one per version (`/license-analyses/<version id>/`)."""

    queryset = LicenseAnalysis.objects.select_related("version__model").prefetch_related("evidence")
    serializer_class = s.LicenseAnalysisSerializer
    filterset_class = filtersets.LicenseAnalysisFilterSet
    lookup_field = "version"
    ordering_fields = ["risk", "finished_at"]
    permission_map = {"analyse": "licenses.conclude_license", "use_fit": "licenses.view_licenseanalysis"}

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"])
    def analyse(self, request: Request, version: str | None = None) -> Response:
        """Queue a fresh analysis of this version."""
        obj = get_object_or_404(ModelVersion.objects.restrict(request.user), pk=version)
        services.enqueue_analysis(version_id=obj.pk)
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=s.UseFitSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="use-fit")
    def use_fit(self, request: Request, version: str | None = None) -> Response:
        """Use permitted / not permitted for every application using this version."""
        obj = get_object_or_404(ModelVersion.objects.restrict(request.user), pk=version)
        apps = Application.objects.restrict(request.user).filter(
            pk__in=ApplicationModel.objects.filter(version=obj).values("application_id")
        )
        fits = services.use_fit_many([(obj.pk, app) for app in apps])
        data = [
            {"application": app.pk, "application_name": app.name, "permitted": fits[(obj.pk, app.pk)][0],
             "reasons": fits[(obj.pk, app.pk)][1]}
            for app in apps
        ]  # fmt: skip
        return Response(s.UseFitSerializer(data, many=True).data)


class LicenseConclusionViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Reviewer conclusions (append-only); creating one requires licenses.conclude_license."""

    queryset = LicenseConclusion.objects.select_related("created_by")
    serializer_class = s.LicenseConclusionSerializer
    filterset_class = filtersets.LicenseConclusionFilterSet
    permission_map = {"create": "licenses.conclude_license"}

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        version = get_object_or_404(ModelVersion.objects.restrict(self.request.user), pk=data["version"].pk)
        try:
            serializer.instance = services.conclude_license(
                actor=self.request.user,
                version=version,
                status=data["status"],
                comment=data.get("comment", ""),
                license_expression=data.get("license_expression", ""),
                application=data.get("application"),
                organization=data.get("organization"),
            )
        except services.ConclusionError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
