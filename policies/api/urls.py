from django.urls import re_path
from rest_framework.routers import SimpleRouter

from policies.api import views

app_name = "policies-api"

router = SimpleRouter()
router.register("policies", views.PolicyViewSet)
router.register("violations", views.ViolationViewSet)
router.register("waivers", views.WaiverViewSet)
router.register("approvals", views.ApprovalViewSet)

urlpatterns = [
    re_path(r"^gate/?$", views.GateView.as_view(), name="gate"),
    *router.urls,
]
