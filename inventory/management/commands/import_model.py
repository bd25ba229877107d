"""`python manage.py import_model REPO_ID [--revision REV] [--from-dir DIR] [--wait]` (DESIGN.md contract).

Without --wait the import is queued for a Celery worker and the job is printed as JSON.
With --wait it runs here: import, then scan, licenses and policy evaluation, then prints the
version summary as one JSON object. Exit 0 on success, 1 on a failed import (reason on stderr);
with --wait a failed pipeline step (scan, licenses, evaluation) is a failed import: the summary is
still printed, the reason goes to stderr and the exit status is 1.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory import pipeline, services
from inventory.models import Application


class Command(BaseCommand):
    help = "Import a model version from the Hub (honours HF_ENDPOINT/HF_TOKEN) or from a local folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("repo_id", help="Hub repository id (org/name); with --from-dir, the id to record.")
        parser.add_argument("--revision", default="main", help="Branch, tag or commit (default: main).")
        parser.add_argument("--from-dir", dest="from_dir", default="", help="Import from this local folder.")
        parser.add_argument("--wait", action="store_true", help="Run scan, licenses and evaluation; print summary.")
        parser.add_argument("--application", default="", help="Slug of an application that uses this version.")

    def handle(self, *args: Any, **options: Any) -> None:
        application = None
        if options["application"]:
            application = Application.objects.filter(slug=options["application"]).first()
            if application is None:
                raise CommandError(f"No application with slug {options['application']!r}.")
        repo_id: str = options["repo_id"]
        if not options["wait"]:
            job = services.request_import(
                user=None,
                repo_id=repo_id,
                revision=options["revision"],
                local_path=options["from_dir"],
                application=application,
                confined=False,  # an operator on the server may import any folder
            )
            job.refresh_from_db()
            self.stdout.write(json.dumps({"job": job.pk, "state": job.state, "target": job.target}))
            return
        try:
            if options["from_dir"]:
                version, _ = services.import_from_folder(
                    folder=options["from_dir"], repo_id=repo_id, application=application
                )
            else:
                version, _ = services.import_from_hub(
                    repo_id=repo_id, revision=options["revision"], application=application
                )
        except services.ImportFailed as exc:
            self.stderr.write(f"import failed ({exc.kind}): {exc}")
            raise SystemExit(1) from exc
        outcome = pipeline.run_all(version.pk)
        failures = [
            f"{step} step failed: {result.removeprefix('error: ')}"
            for step, result in outcome.items()
            if result != "ok"
        ]
        version.refresh_from_db()
        summary = services.version_summary(version)
        scan = summary.get("scan")
        if isinstance(scan, dict) and scan.get("state") == "failed" and "scan" in outcome and outcome["scan"] == "ok":
            failures.append(f"scan failed: {scan.get('error') or 'no reason recorded'}")
        self.stdout.write(json.dumps(summary))
        if failures:
            # A version that could not be scanned, attributed or evaluated is not imported for --wait.
            for reason in failures:
                self.stderr.write(f"import failed: {reason}")
            raise SystemExit(1)
