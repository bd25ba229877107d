from typing import Any

from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from governance import overview
        from inventory import extensions
        from policies import triage

        extensions.register_application_links("governance", _application_links)
        # The triage list counts its rows from the overview's rollups when they answer its filter.
        triage.register_pair_counter(overview.rollup_pair_count)


def _application_links(request: Any, application: Any) -> list[dict[str, str]]:
    from django.urls import reverse

    return [{"label": "ML-BOM", "url": reverse("governance:application_bom", args=[application.pk])}]
