"""Scanning API: scan runs (with findings), scan requests, findings. Same services and FilterSets as the pages."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.models import ModelVersion
from scanning import filtersets, services
from scanning.api.serializers import (
    FindingSerializer,
    ScanRequestSerializer,
    ScanRunDetailSerializer,
    ScanRunSerializer,
)
from scanning.models import Finding, ScanRun


def _request_scan(request: Request, version_id: int) -> Response:
    version = get_object_or_404(ModelVersion.objects.restrict(request.user).select_related("model"), pk=version_id)
    try:
        run = services.request_scan(version=version, user=request.user)
    except services.ScanAlreadyActive as exc:
        active = ScanRun.objects.filter(version=version).active().order_by("-id").first()
        return Response(
            {"detail": exc.messages[0], "scan_run": active.pk if active else None}, status=status.HTTP_409_CONFLICT
        )
    run.refresh_from_db()
    return Response(ScanRunSerializer(run, context={"request": request}).data, status=status.HTTP_201_CREATED)


class ScanRunListAPIView(generics.ListAPIView):
    """Scan runs, newest first. POST `{"version": id}` queues a scan (409 while one is active)."""

    queryset = ScanRun.objects.all()
    serializer_class = ScanRunSerializer
    filterset_class = filtersets.ScanRunFilterSet
    ordering_fields = ["created_at", "finished_at", "finding_count"]
    permission_map = {"GET": "scanning.view_scanrun", "POST": "scanning.run_scan"}

    def get_queryset(self) -> QuerySet[ScanRun]:
        return (
            ScanRun.objects.restrict(self.request.user)
            .filter(version__in=ModelVersion.objects.restrict(self.request.user))
            .select_related("version", "version__model", "requested_by")
            .order_by("-created_at", "-id")
        )

    @extend_schema(request=ScanRequestSerializer, responses={201: ScanRunSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ScanRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _request_scan(request, data.validated_data["version"])


class ScanRunDetailAPIView(generics.RetrieveAPIView):
    queryset = ScanRun.objects.all()
    serializer_class = ScanRunDetailSerializer
    permission_map = {"GET": "scanning.view_scanrun"}

    def get_queryset(self) -> QuerySet[ScanRun]:
        return (
            ScanRun.objects.restrict(self.request.user)
            .filter(version__in=ModelVersion.objects.restrict(self.request.user))
            .select_related("version", "version__model", "requested_by")
            .prefetch_related("file_results", "findings")
        )


class VersionScanAPIView(APIView):
    """POST: queue a scan of one version (201 with the run; 409 while one is active)."""

    permission_map = {"POST": "scanning.run_scan"}

    @extend_schema(request=None, responses={201: ScanRunSerializer})
    def post(self, request: Request, pk: int) -> Response:
        return _request_scan(request, pk)


class FindingListAPIView(generics.ListAPIView):
    """Findings of every scan run (filter by scan_run, version, category, severity, verdict, rule, file)."""

    queryset = Finding.objects.all()
    serializer_class = FindingSerializer
    filterset_class = filtersets.FindingFilterSet
    permission_map = {"GET": "scanning.view_finding"}

    def get_queryset(self) -> QuerySet[Finding]:
        return (
            Finding.objects.restrict(self.request.user)
            .filter(scan_run__version__in=ModelVersion.objects.restrict(self.request.user))
            .order_by("-scan_run_id", "path", "id")
        )
