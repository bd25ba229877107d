"""Load the demo organization with locally generated sample models."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from governance.demo import load_demo


class Command(BaseCommand):
    help = "Create a demo organization, applications and sample models (generated locally; no network)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-pipeline", action="store_true", help="Import only; skip scan/licenses/policies.")

    def handle(self, *args: Any, **options: Any) -> None:
        imported = load_demo(run_pipeline=not options["no_pipeline"])
        self.stdout.write(f"Demo loaded: {len(imported)} model versions.")
