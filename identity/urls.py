from django.urls import path

from identity import views

app_name = "identity"

urlpatterns = [
    path("tokens/", views.CITokenListView.as_view(), name="citoken_list"),
    path("tokens/new/", views.CITokenCreateView.as_view(), name="citoken_add"),
    path("tokens/<int:pk>/revoke/", views.CITokenRevokeView.as_view(), name="citoken_revoke"),
    path("applications/<int:pk>/gate/", views.ApplicationGateView.as_view(), name="application_gate"),
]
