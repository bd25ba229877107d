from django.urls import path

from scanning import views

app_name = "scanning"

urlpatterns = [
    path("", views.ScanRunListView.as_view(), name="scanrun_list"),
    path("runs/<int:pk>/", views.ScanRunDetailView.as_view(), name="scanrun_detail"),
    path("versions/<int:pk>/panel/", views.VersionPanelView.as_view(), name="version_panel"),
    path("versions/<int:pk>/scan/", views.VersionScanView.as_view(), name="version_scan"),
]
