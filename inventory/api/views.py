from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from inventory import filtersets, services
from inventory.api import serializers as s
from inventory.models import (
    Application,
    ApplicationModel,
    Dataset,
    ImportJob,
    Model,
    ModelFile,
    ModelVersion,
    Organization,
    Watch,
)


class RestrictedViewSetMixin:
    """Every API read goes through the access gate."""

    def get_queryset(self) -> QuerySet[Any]:
        return self.queryset.restrict(self.request.user)  # type: ignore[attr-defined]


class ServiceModelViewSet(RestrictedViewSetMixin, viewsets.ModelViewSet):
    """Create/update through the same service as the web form (`save`): same checks, audit and facts."""

    def save(self, *, user: Any, instance: Any, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = self.save(user=self.request.user, instance=None, data=dict(serializer.validated_data))

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = self.save(
            user=self.request.user, instance=serializer.instance, data=dict(serializer.validated_data)
        )


class OrganizationViewSet(ServiceModelViewSet):
    queryset = Organization.objects.all()
    serializer_class = s.OrganizationSerializer
    ordering_fields = ["name"]

    def save(self, *, user: Any, instance: Any, data: dict[str, Any]) -> Any:
        return services.save_organization(user=user, organization=instance, data=data)


class ApplicationViewSet(ServiceModelViewSet):
    queryset = Application.objects.select_related("organization")
    serializer_class = s.ApplicationSerializer
    filterset_class = filtersets.ApplicationFilterSet

    def save(self, *, user: Any, instance: Any, data: dict[str, Any]) -> Any:
        return services.save_application(user=user, application=instance, data=data)


class ModelViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Model.objects.select_related("latest_version").prefetch_related(
        "latest_version__base_links__base", "latest_version__datasets"
    )
    filterset_class = filtersets.ModelFilterSet
    permission_map = {"import_model": "inventory.import_model"}

    def get_serializer_class(self) -> type[Any]:
        if self.action == "retrieve":
            return s.ModelDetailSerializer
        if self.action == "import_model":
            return s.ImportRequestSerializer
        return s.ModelSerializer

    @extend_schema(request=s.ImportRequestSerializer, responses={202: s.ImportJobSerializer})
    @action(detail=False, methods=["post"], url_path="import", url_name="import")
    def import_model(self, request: Request) -> Response:
        """Queue an import from the Hub (repo_id + revision) or a local folder; poll the returned job."""
        serializer = s.ImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        app = data.get("application")
        if app is not None and not Application.objects.restrict(request.user).filter(pk=app.pk).exists():
            return Response({"application": ["Not found."]}, status=status.HTTP_400_BAD_REQUEST)
        job = services.request_import(
            user=request.user,
            repo_id=data.get("repo_id", ""),
            revision=data.get("revision") or "main",
            local_path=data.get("local_path", ""),
            application=app,
        )
        job.refresh_from_db()
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ModelVersionViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = ModelVersion.objects.select_related("model").prefetch_related("base_links__base", "datasets")
    filterset_class = filtersets.ModelVersionFilterSet

    def get_serializer_class(self) -> type[Any]:
        return s.ModelVersionDetailSerializer if self.action == "retrieve" else s.ModelVersionSerializer

    def get_queryset(self) -> QuerySet[Any]:
        qs = super().get_queryset()
        return qs.prefetch_related("files") if self.action == "retrieve" else qs


class ModelFileViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = ModelFile.objects.all()
    serializer_class = s.ModelFileSerializer
    filterset_fields = ["version", "format", "is_lfs"]


class DatasetViewSet(RestrictedViewSetMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Dataset.objects.all()
    serializer_class = s.DatasetSerializer
    filterset_class = filtersets.DatasetFilterSet
    http_method_names = ["get", "patch", "head", "options"]

    def perform_update(self, serializer: Any) -> None:
        dataset = serializer.instance
        flags = serializer.validated_data.get("flags", dataset.flags)
        notes = serializer.validated_data.get("notes", dataset.notes)
        services.set_dataset_flags(dataset=dataset, flags=list(flags), notes=notes, user=self.request.user)


class UsageViewSet(
    RestrictedViewSetMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet
):
    queryset = ApplicationModel.objects.select_related("application", "version")
    serializer_class = s.UsageSerializer
    filterset_fields = ["application", "version"]

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        serializer.instance = services.add_usage(
            application=data["application"],
            version=data["version"],
            user=self.request.user,
            notes=data.get("notes", ""),
            check=True,
        )

    def perform_destroy(self, instance: ApplicationModel) -> None:
        services.remove_usage(usage=instance, user=self.request.user)


class ImportJobViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = ImportJob.objects.all()
    serializer_class = s.ImportJobSerializer
    filterset_class = filtersets.ImportJobFilterSet
    permission_map = {"retry": "inventory.import_model"}

    @extend_schema(request=None, responses={202: s.ImportJobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        try:
            job = services.retry_import(job=job, user=request.user)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        job.refresh_from_db()
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class WatchViewSet(RestrictedViewSetMixin, viewsets.ModelViewSet):
    queryset = Watch.objects.select_related("model")
    serializer_class = s.WatchSerializer
    filterset_fields = ["model", "enabled"]

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        serializer.instance = services.watch_model(
            model=data["model"],
            ref=data.get("ref", "main"),
            user=self.request.user,
            application=data.get("application"),
        )

    def perform_destroy(self, instance: Watch) -> None:
        services.unwatch_model(watch=instance, user=self.request.user)
