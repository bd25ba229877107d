"""`python manage.py licenses REPO_ID[@REV] --json` (DESIGN.md contract).

Prints the license attribution of one version:
{"declared", "declared_name", "observed": [{"path", "license", "match", "score"}],
 "inherited": [{"license", "from"}], "effective", "obligations", "conflict", "conflicts"}.

REV is a commit (or its prefix) or a ref already imported; without it, the latest imported
version. A repo not in the inventory yet is imported first (Hub, or `--from-dir DIR`).
Exit 0 on success, 1 when the version cannot be found/imported or the analysis fails.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q

from inventory import services as inventory_services
from inventory.models import Model, ModelVersion
from licenses import services


class Command(BaseCommand):
    help = "Attribute the licenses of a model version (declared, observed, inherited, effective)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="REPO_ID or REPO_ID@REV")
        parser.add_argument("--json", action="store_true", help="Print one JSON object (the contract).")
        parser.add_argument("--fresh", action="store_true", help="Re-run the analysis even if one exists.")
        parser.add_argument("--from-dir", dest="from_dir", default="", help="Import this local folder first.")

    def handle(self, *args: Any, **options: Any) -> None:
        repo_id, _, rev = options["target"].partition("@")
        version = self._version(repo_id, rev, options["from_dir"])
        if version is None:
            self.stderr.write(f"no imported version of {options['target']}")
            raise SystemExit(1)
        try:
            if options["fresh"]:
                services.analyse_version(version_id=version.pk)
            summary = services.license_summary(version)
        except Exception as exc:
            self.stderr.write(f"license analysis failed: {exc}")
            raise SystemExit(1) from exc
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        self._human(version, summary)

    def _version(self, repo_id: str, rev: str, from_dir: str) -> ModelVersion | None:
        model = Model.objects.filter(repo_id=repo_id, is_placeholder=False).first()
        version = None
        if model is not None and not from_dir:
            qs = ModelVersion.objects.filter(model=model)
            if rev:
                version = qs.filter(Q(commit__startswith=rev.lower()) | Q(ref=rev)).order_by("-imported_at").first()
            else:
                version = qs.order_by("-imported_at", "-id").first()
        if version is None:
            try:
                if from_dir:
                    version, _ = inventory_services.import_from_folder(folder=from_dir, repo_id=repo_id)
                else:
                    version, _ = inventory_services.import_from_hub(repo_id=repo_id, revision=rev or "main")
            except Exception as exc:
                self.stderr.write(f"import failed: {exc}")
                return None
        return version

    def _human(self, version: ModelVersion, summary: dict[str, Any]) -> None:
        w = self.stdout.write
        w(f"{version.model.repo_id}@{version.commit}")
        w(
            f"  declared:  {summary['declared'] or '—'}"
            + (f" ({summary['declared_name']})" if summary.get("declared_name") else "")
        )
        for o in summary["observed"]:
            w(f"  observed:  {o['license']:<28} {o['match']:<12} {o['score']:.2f}  {o['path']}")
        for i in summary["inherited"]:
            w(f"  inherited: {i['license']:<28} from {i['from']}")
        w(f"  effective: {summary['effective']}")
        w(f"  obligations: {', '.join(summary['obligations']) or '—'}")
        for c in summary["conflicts"]:
            w(f"  CONFLICT: {c}")
