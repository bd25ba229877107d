from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from governance import api_views

app_name = "governance-api"

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="token"),
    path("audit/", api_views.AuditEventListAPIView.as_view(), name="auditevent-list"),
]
