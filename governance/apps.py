from typing import Any

from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from inventory import extensions

        extensions.register_application_links("governance", _application_links)


def _application_links(request: Any, application: Any) -> list[dict[str, str]]:
    from django.urls import reverse

    return [{"label": "ML-BOM", "url": reverse("governance:application_bom", args=[application.pk])}]
