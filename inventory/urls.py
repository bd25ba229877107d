from django.urls import path

from inventory import views

app_name = "inventory"

urlpatterns = [
    path("", views.ModelListView.as_view(), name="model_list"),
    path("models/<int:pk>/", views.ModelDetailView.as_view(), name="model_detail"),
    path("models/<int:pk>/diff/", views.ModelDiffView.as_view(), name="model_diff"),
    path("models/<int:pk>/watch/", views.WatchAddView.as_view(), name="watch_add"),
    path("watches/<int:pk>/delete/", views.WatchRemoveView.as_view(), name="watch_remove"),
    path("versions/<int:pk>/", views.VersionDetailView.as_view(), name="version_detail"),
    path("versions/<int:pk>/usages/", views.UsageAddView.as_view(), name="usage_add"),
    path("usages/<int:pk>/delete/", views.UsageRemoveView.as_view(), name="usage_remove"),
    path("import/", views.ImportView.as_view(), name="import"),
    path("imports/", views.ImportJobListView.as_view(), name="importjob_list"),
    path("imports/<int:pk>/", views.ImportJobDetailView.as_view(), name="importjob_detail"),
    path("imports/<int:pk>/retry/", views.ImportJobRetryView.as_view(), name="importjob_retry"),
    path("organizations/", views.OrganizationListView.as_view(), name="organization_list"),
    path("organizations/new/", views.OrganizationCreateView.as_view(), name="organization_add"),
    path("organizations/<int:pk>/", views.OrganizationDetailView.as_view(), name="organization_detail"),
    path("organizations/<int:pk>/edit/", views.OrganizationUpdateView.as_view(), name="organization_edit"),
    path("applications/", views.ApplicationListView.as_view(), name="application_list"),
    path("applications/new/", views.ApplicationCreateView.as_view(), name="application_add"),
    path("applications/<int:pk>/", views.ApplicationDetailView.as_view(), name="application_detail"),
    path("applications/<int:pk>/edit/", views.ApplicationUpdateView.as_view(), name="application_edit"),
    path("datasets/", views.DatasetListView.as_view(), name="dataset_list"),
    path("datasets/<int:pk>/", views.DatasetDetailView.as_view(), name="dataset_detail"),
]
