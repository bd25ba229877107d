"""Root URL configuration."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

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
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("inventory/", include("inventory.urls")),
    path("scanning/", include("scanning.urls")),
    path("licenses/", include("licenses.urls")),
    path("policies/", include("policies.urls")),
    path("identity/", include("identity.urls")),
    path("api/v1/", include(api_patterns)),
    path("admin/", admin.site.urls),
]
