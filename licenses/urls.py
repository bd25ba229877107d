from django.urls import path

from licenses import views

app_name = "licenses"

urlpatterns = [
    path("", views.QueueView.as_view(), name="queue"),
    path("versions/<int:version_id>/", views.ReviewView.as_view(), name="review"),
    path("versions/<int:version_id>/conclude/", views.ConcludeView.as_view(), name="conclude"),
    path("versions/<int:version_id>/carry-revoke/", views.CarryRevokeView.as_view(), name="carry_revoke"),
    path("versions/<int:version_id>/analyse/", views.AnalyseView.as_view(), name="analyse"),
    path("evidence/<int:pk>/", views.EvidenceView.as_view(), name="evidence"),
    path("catalog/", views.LicenseListView.as_view(), name="license_list"),
    path("catalog/new/", views.LicenseEditView.as_view(), name="license_create"),
    path("catalog/<int:pk>/", views.LicenseDetailView.as_view(), name="license_detail"),
    path("catalog/<int:pk>/edit/", views.LicenseEditView.as_view(), name="license_edit"),
    path("catalog/<int:pk>/obligations/", views.LicenseObligationView.as_view(), name="license_obligation"),
    path("obligations/", views.ObligationListView.as_view(), name="obligation_list"),
    path("applications/<int:app_id>/checklist/", views.ChecklistView.as_view(), name="checklist"),
    path("applications/<int:app_id>/attribution/", views.AttributionView.as_view(), name="attribution"),
    path("applications/<int:app_id>/NOTICE.txt", views.AttributionNoticeView.as_view(), name="attribution_notice"),
]
