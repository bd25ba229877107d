from rest_framework.routers import SimpleRouter

from inventory.api import views

app_name = "inventory-api"

router = SimpleRouter()
router.trailing_slash = "/?"  # both /api/v1/models/import (DESIGN.md contract) and …/import/
router.register("organizations", views.OrganizationViewSet)
router.register("applications", views.ApplicationViewSet)
router.register("models", views.ModelViewSet)
router.register("versions", views.ModelVersionViewSet)
router.register("files", views.ModelFileViewSet)
router.register("datasets", views.DatasetViewSet)
router.register("usages", views.UsageViewSet)
router.register("imports", views.ImportJobViewSet)
router.register("watches", views.WatchViewSet)

urlpatterns = router.urls
