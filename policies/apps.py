from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Policies"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from inventory import diff, pipeline
        from policies import diff as policies_diff
        from policies import facts, services, tasks

        diff.register_diff_section("violations", order=30, build=policies_diff.violations_diff)

        _ = facts  # registers the fact providers
        pipeline.register("policies", order=30, run=services.evaluate_version, task=tasks.pipeline_evaluate.name)
        pipeline.on_facts_changed(services.request_evaluation_of)
        pipeline.register_summary("violations", services.violation_summary)
        post_migrate.connect(load_default_pack_once, sender=self, dispatch_uid="policies.default_pack")


def load_default_pack_once(sender: Any = None, using: str = "default", **kwargs: Any) -> None:
    """First run: load the default policy pack when there are no policies and it was never loaded."""
    from policies import services

    services.load_default_pack_once(using=using)
