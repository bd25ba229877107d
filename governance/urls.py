"""Root URL configuration."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from identity.login import LoginView
from identity.oidc import SSOLogoutView

api_patterns: list[URLPattern | URLResolver] = [
    path("", include("inventory.api.urls")),
    path("", include("scanning.api.urls")),
    path("", include("licenses.api.urls")),
    path("", include("policies.api.urls")),
    path("", include("governance.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its init script as a file (no inline script); Swagger UI itself sets
    # inline styles, allowed on this page only.
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="docs",
    ),
]

urlpatterns = [
    path("", include("governance.page_urls")),
    # Login page: password form and/or the single sign-on button (identity.login); logout also ends the
    # identity provider's session when MODELGATE_OIDC_LOGOUT is on.
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", SSOLogoutView.as_view(), name="logout"),
    path("oidc/", include("identity.sso_urls")),
    # Password change (signed in) and reset by email (EMAIL_BACKEND): Django's views, our templates.
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("inventory/", include("inventory.urls")),
    path("scanning/", include("scanning.urls")),
    path("licenses/", include("licenses.urls")),
    path("policies/", include("policies.urls")),
    path("identity/", include("identity.urls")),
    path("api/v1/", include(api_patterns)),
    path("admin/", admin.site.urls),
]
