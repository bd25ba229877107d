from rest_framework.routers import SimpleRouter

from licenses.api import views

app_name = "licenses-api"

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("licenses", views.LicenseViewSet)
router.register("obligations", views.ObligationViewSet)
router.register("license-analyses", views.LicenseAnalysisViewSet)
router.register("license-conclusions", views.LicenseConclusionViewSet)

urlpatterns = router.urls
