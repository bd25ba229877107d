"""Single sign-on routes, mounted at /oidc/ by governance/urls.py without a namespace: the provider's
redirect URI is `https://<host>/oidc/callback/` and mozilla-django-oidc reverses these names."""

from django.urls import path

from identity import oidc

urlpatterns = [
    path("authenticate/", oidc.SSOAuthenticationRequestView.as_view(), name="oidc_authentication_init"),
    path("callback/", oidc.SSOCallbackView.as_view(), name="oidc_authentication_callback"),
]
