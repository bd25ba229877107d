from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.urls import reverse

from core.permissions import has_perm, register_scope_resolver


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"

    def ready(self) -> None:
        from identity import (
            directory,  # noqa: F401  (registers the check of the SSO group maps)
            schema,  # noqa: F401  (registers the OpenAPI description of CI tokens)
        )
        from identity.scoping import resolve_scope
        from inventory import extensions

        register_scope_resolver(resolve_scope)
        extensions.register_application_links("identity", _application_links)


def _application_links(request: Any, application: Any) -> list[dict[str, str]]:
    if not has_perm(request.user, "identity.view_citoken"):
        return []
    return [{"label": "CI gate", "url": reverse("identity:application_gate", args=[application.pk])}]
