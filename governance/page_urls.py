from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("work/", views.WorkView.as_view(), name="work"),
    path("overview/", views.OverviewView.as_view(), name="overview"),
    path("audit/", views.AuditEventListView.as_view(), name="audit_list"),
    path("notifications/", views.NotificationPreferencesView.as_view(), name="notification_preferences"),
    path("notifications/webhooks/", views.WebhookListView.as_view(), name="webhook_list"),
    path("bom/versions/<int:pk>.cdx.json", views.VersionBomView.as_view(), name="version_bom"),
    path("bom/applications/<int:pk>.cdx.json", views.ApplicationBomView.as_view(), name="application_bom"),
    path("exports/violations.csv", views.ViolationExportView.as_view(), name="violation_export"),
    path("exports/waivers.csv", views.WaiverExportView.as_view(), name="waiver_export"),
]
