from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Policies"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from inventory import pipeline
        from policies import facts  # noqa: F401  (registers the fact providers)

        def run(version_id: int) -> object:
            from policies.services import evaluate_version

            return evaluate_version(version_id)

        def changed(version_ids: list[int]) -> None:
            from policies.tasks import evaluate_versions_task

            evaluate_versions_task.delay(version_ids=list(version_ids))

        def summary(version: Any) -> list[dict[str, Any]]:
            from policies.models import Violation

            return [
                {"policy": v.policy.name, "threat_level": v.policy.threat_level, "action": v.policy.action_release}
                for v in Violation.objects.open()
                .filter(version=version, application__isnull=True)
                .select_related("policy")
                .order_by("-policy__threat_level")
            ]

        pipeline.register("policies", order=30, run=run)
        if hasattr(pipeline, "on_facts_changed"):
            pipeline.on_facts_changed(changed)
        if hasattr(pipeline, "register_summary"):
            pipeline.register_summary("violations", summary)
        post_migrate.connect(load_default_pack_once, sender=self, dispatch_uid="policies.default_pack")


def load_default_pack_once(sender: Any = None, using: str = "default", **kwargs: Any) -> None:
    """First run: load the default policy pack when there are no policies and it was never loaded."""
    from core.models import AuditEvent
    from policies.models import Policy
    from policies.services import load_default_pack

    if Policy.objects.using(using).exists() or AuditEvent.objects.filter(reason="default policy pack").exists():
        return
    load_default_pack()
