"""The provider's routes: django-oauth-toolkit under /o/ (discovery at /o/.well-known/openid-configuration),
a login page, and /_test/setup/, with which the tests register the client and the users."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from tests.identity.oidc_provider import views

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("_test/setup/", views.setup),
]
