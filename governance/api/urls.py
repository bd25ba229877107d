from django.urls import path
from rest_framework.routers import SimpleRouter

from core.auth import ObtainAuthTokenView
from governance.api import views as api_views

app_name = "governance-api"

router = SimpleRouter()
router.register("webhooks", api_views.WebhookViewSet, basename="webhook")
router.register("webhook-deliveries", api_views.WebhookDeliveryViewSet, basename="webhookdelivery")

urlpatterns = [
    path("auth/token/", ObtainAuthTokenView.as_view(), name="token"),
    path("audit/", api_views.AuditEventListAPIView.as_view(), name="auditevent-list"),
    path("overview/", api_views.OverviewAPIView.as_view(), name="overview"),
    path("risk-snapshots/", api_views.RiskSnapshotListAPIView.as_view(), name="risksnapshot-list"),
    path("bom/versions/<int:pk>/", api_views.VersionBomAPIView.as_view(), name="version-bom"),
    path("bom/applications/<int:pk>/", api_views.ApplicationBomAPIView.as_view(), name="application-bom"),
    path("exports/violations.csv", api_views.ViolationExportAPIView.as_view(), name="violation-export"),
    path("exports/waivers.csv", api_views.WaiverExportAPIView.as_view(), name="waiver-export"),
    path("notifications/preferences/", api_views.NotificationPreferenceAPIView.as_view(), name="notification-prefs"),
    *router.urls,
]
