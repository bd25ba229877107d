from django.urls import path

from policies import views

app_name = "policies"

urlpatterns = [
    path("", views.PolicyListView.as_view(), name="policy_list"),
    path("new/", views.PolicyEditView.as_view(), name="policy_create"),
    path("preview/", views.PolicyPreviewView.as_view(), name="policy_preview"),
    path("condition/", views.ConditionRowView.as_view(), name="condition_row"),
    path("export.yaml", views.PolicyExportView.as_view(), name="policy_export"),
    path("import/", views.PolicyImportView.as_view(), name="policy_import"),
    path("<int:pk>/", views.PolicyDetailView.as_view(), name="policy_detail"),
    path("<int:pk>/edit/", views.PolicyEditView.as_view(), name="policy_edit"),
    path("<int:pk>/toggle/", views.PolicyToggleView.as_view(), name="policy_toggle"),
    path("<int:pk>/delete/", views.PolicyDeleteView.as_view(), name="policy_delete"),
    path("violations/", views.ViolationListView.as_view(), name="violation_list"),
    path("violations/bulk-waive/", views.ViolationBulkWaiveView.as_view(), name="violation_bulk_waive"),
    path("violations/bulk-triage/", views.TriageBulkView.as_view(), name="violation_bulk_triage"),
    path("violations/<int:pk>/", views.ViolationDetailView.as_view(), name="violation_detail"),
    path("violations/<int:pk>/assign/", views.TriageAssignView.as_view(), name="triage_assign"),
    path("violations/<int:pk>/due/", views.TriageDueView.as_view(), name="triage_due"),
    path("violations/<int:pk>/comment/", views.TriageCommentView.as_view(), name="triage_comment"),
    path("violations/<int:pk>/dismiss/", views.TriageDismissView.as_view(), name="triage_dismiss"),
    path("violations/<int:pk>/reopen/", views.TriageReopenView.as_view(), name="triage_reopen"),
    path("violations/<int:pk>/row/", views.ViolationRowView.as_view(), name="violation_row"),
    path("violations/<int:pk>/waive/", views.WaiverRequestView.as_view(), name="waiver_request"),
    path("waivers/", views.WaiverListView.as_view(), name="waiver_list"),
    path("waivers/<int:pk>/", views.WaiverDetailView.as_view(), name="waiver_detail"),
    path("waivers/<int:pk>/decide/", views.WaiverDecideView.as_view(), name="waiver_decide"),
    path("versions/<int:pk>/", views.VersionReviewView.as_view(), name="version_review"),
    path("versions/<int:pk>/decide/", views.VersionDecideView.as_view(), name="version_decide"),
]
