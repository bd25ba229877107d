"""Load the default policy pack (or a YAML file of policies) as the system, audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from policies import services


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
                path = Path(options["file"])
                loaded = services.load_policy_file(text=path.read_text(), source=path.name, update=options["update"])
            else:
                loaded = services.load_default_pack(force=True)
        except (OSError, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Loaded {len(loaded)} policies.")
