"""Load the default policy pack (or a YAML file of policies) as the system, audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from governance.services import record_event
from policies import services
from policies.models import Policy


class Command(BaseCommand):
    help = "Load the default policy pack (existing policies of the same name are kept) or --file FILE.yaml."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", help="YAML export to load instead of the default pack")
        parser.add_argument(
            "--update", action="store_true", help="with --file: update policies of the same name (audited)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options.get("file"):
                created = self._load_file(Path(options["file"]), update=options["update"])
            else:
                created = services.load_default_pack(force=True)
        except (OSError, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Loaded {len(created)} policies.")

    @transaction.atomic
    def _load_file(self, path: Path, *, update: bool) -> list[Policy]:
        loaded = []
        for data in services.parse_policy_yaml(path.read_text()):
            existing = Policy.objects.filter(name=data.name).first()
            if existing is not None and not update:
                continue
            before = services.policy_snapshot(existing) if existing else None
            policy = existing or Policy()
            services._write_policy(policy, data)
            if existing is not None:
                policy.revision += 1
                policy.save(update_fields=["revision"])
            record_event(
                actor=None, action="policy.update" if existing else "policy.create", target=policy,
                reason=f"loaded from {path.name}", before=before, after=services.policy_snapshot(policy),
            )  # fmt: skip
            loaded.append(policy)
        services.request_evaluation()
        return loaded
