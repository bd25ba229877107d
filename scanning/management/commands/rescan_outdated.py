"""`manage.py rescan_outdated [--limit N] [--include-unscanned]`: queue rescans after a rules update.

The same service the hourly beat task (`scanning.rescan_outdated`) runs; useful right after an upgrade.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from scanning import services


class Command(BaseCommand):
    help = "Queue a rescan of every version whose latest scan used an older rules version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=1000, help="At most this many versions (default 1000).")
        parser.add_argument(
            "--include-unscanned", action="store_true", help="Also queue versions without a successful scan."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        runs = services.rescan_outdated(limit=options["limit"], include_unscanned=options["include_unscanned"])
        self.stdout.write(
            json.dumps(
                {"rules_version": services.RULES_VERSION, "queued": len(runs), "versions": [r.version_id for r in runs]}
            )
        )
