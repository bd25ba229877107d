from django.urls import path

from scanning.api import views

app_name = "scanning-api"

urlpatterns = [
    path("scans/", views.ScanRunListAPIView.as_view(), name="scanrun-list"),
    path("scans/<int:pk>/", views.ScanRunDetailAPIView.as_view(), name="scanrun-detail"),
    path("versions/<int:pk>/scan", views.VersionScanAPIView.as_view(), name="version-scan"),
    path("findings/", views.FindingListAPIView.as_view(), name="finding-list"),
]
