from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("overview/", views.OverviewView.as_view(), name="overview"),
    path("audit/", views.AuditEventListView.as_view(), name="audit_list"),
]
