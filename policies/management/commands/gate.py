"""`python manage.py gate REPO_ID@REV --stage STAGE [--application APP] [--dir DIR] [--format json|sarif|junit]`.

Prints `{"action", "violations", "identity": {"verified", "mismatches"}, …}` as one JSON object (DESIGN.md
contract; the default), or the same answer as a SARIF 2.1.0 log or a JUnit XML testsuite.
Exit 0 unless the action is `fail` or the identity does not verify; 2 on a usage error.
Identity: the files under --dir (e.g. a Hugging Face cache snapshot) are hashed and compared with
the hashes the approval pinned (or, before approval, the hashes recorded at import). Without
--dir nothing is verified and the exit status is 1.
A model the inventory has never seen is queued for import (a Celery worker imports and judges it)
and the answer is `fail` pending evaluation; `--import-now` imports, scans and evaluates it here.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.models import Application
from policies import gate_reports
from policies.choices import Stage
from policies.services import check_gate, hash_directory


class _SystemActor:
    """The CLI runs on the server as the operator: it may ask the gate and queue an import.

    Not an authenticated user: audit events and import jobs it causes are recorded as "system".
    """

    is_active = True
    is_authenticated = False
    pk = None

    def has_perm(self, perm: str) -> bool:
        return perm in ("policies.use_gate", "inventory.import_model")


class Command(BaseCommand):
    help = "Ask the gate whether REPO_ID@REV may be used at STAGE; verify local files against the approved hashes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="REPO_ID@REVISION (revision defaults to main)")
        parser.add_argument("--stage", required=True, choices=Stage.values)
        parser.add_argument("--application", help="application slug or id (its policies and use profile apply)")
        parser.add_argument("--dir", dest="directory", help="local folder holding the files to verify")
        parser.add_argument("--format", dest="fmt", choices=gate_reports.FORMATS, default="json", help="output format")
        parser.add_argument(
            "--import-now",
            dest="import_now",
            action="store_true",
            help="an unknown model is imported, scanned and evaluated here before answering "
            "(default: an import job is queued and the answer is fail, pending evaluation)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target: str = options["target"]
        repo_id, _, revision = target.partition("@")
        if not repo_id:
            raise CommandError("Give REPO_ID@REVISION", returncode=2)
        application = None
        if options.get("application"):
            key = options["application"]
            qs = Application.objects.all()
            application = qs.filter(slug=key).first() or (qs.filter(pk=int(key)).first() if key.isdigit() else None)
            if application is None:
                raise CommandError(f"Unknown application {key!r}", returncode=2)
        directory = options.get("directory")
        try:
            files = hash_directory(directory) if directory else None
            result = check_gate(
                user=_SystemActor(),
                repo_id=repo_id,
                revision=revision or "main",
                stage=options["stage"],
                application=application,
                files=files,
                import_now=options.get("import_now", False),
            )
        except (ValidationError, PermissionDenied) as exc:
            raise CommandError(str(exc), returncode=2) from exc
        if options["fmt"] == "json":
            self.stdout.write(json.dumps(result, default=str))
        else:
            body, _media = gate_reports.render(
                result,
                fmt=options["fmt"],
                target=f"{repo_id}@{revision or 'main'}",
                stage=options["stage"],
                policies=gate_reports.evaluated_policies(application=application, stage=options["stage"]),
                files=[f["path"] for f in files or []],
            )
            self.stdout.write(body, ending="" if body.endswith("\n") else "\n")
        if result["action"] == "fail" or not result["identity"]["verified"]:
            raise SystemExit(1)
