"""`POST /api/v1/gate`: queries and server time for a version with many files used by many applications.

    .venv/bin/python bench/gate/bench_gate.py [--runs 10] [--json] [--top 8]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/modelgate_bench .venv/bin/python bench/gate/bench_gate.py

Builds its own throw-away database (SQLite in memory, or `test_<name>` of DATABASE_URL's PostgreSQL),
loads the default policy pack, and for each scale (files × applications using the version) asks the gate
as a CI pipeline does — with the hashes of every file, for one application and for none — through the
in-process Django test client. Prints the query count (one request, captured), the median and p95 server
time over `--runs` requests, and with `--top` the most repeated SQL statements (the N+1 suspects).
The query count must not grow with files or applications.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import time
from collections import Counter, deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

SCALES = [(20, 2), (2000, 2), (2000, 100)]  # (files, applications using the version)


def build(files: int, apps: int, tag: str) -> dict[str, object]:
    """A version with `files` files (recorded sha256) used by `apps` applications, evaluated."""
    from inventory.models import Application, ApplicationModel, Model, ModelFile, ModelVersion, Organization
    from policies.services import evaluate_versions

    org = Organization.objects.create(name=f"Org {tag}", slug=f"org-{tag}")
    model = Model.objects.create(repo_id=f"bench/gate-{tag}", downloads=10)
    version = ModelVersion.objects.create(model=model, commit=hashlib.sha256(tag.encode()).hexdigest()[:40], ref="main")
    rows = [
        ModelFile(
            version=version,
            path=f"shard-{i:05d}.safetensors",
            size=1000 + i,
            sha256=hashlib.sha256(f"{tag}/{i}".encode()).hexdigest(),
            format="safetensors",
        )
        for i in range(files)
    ]
    ModelFile.objects.bulk_create(rows, batch_size=1000)
    applications = Application.objects.bulk_create(
        Application(organization=org, name=f"App {tag} {i}", slug=f"app-{tag}-{i}") for i in range(apps)
    )
    ApplicationModel.objects.bulk_create(ApplicationModel(application=a, version=version) for a in applications)
    evaluate_versions(version_ids=[version.pk])
    return {
        "repo_id": model.repo_id,
        "revision": version.commit,
        "application": applications[0].slug,
        "files": [{"path": r.path, "sha256": r.sha256} for r in rows],
    }


def template(sql: str) -> str:
    return re.sub(r"\b\d+\b", "N", re.sub(r"'[^']*'", "'…'", sql))[:160]


def measure(client: Client, body: dict[str, object], runs: int, top: int) -> dict[str, object]:
    def post() -> dict[str, object]:
        response = client.post("/api/v1/gate", body, content_type="application/json")
        assert response.status_code == 200, response.content[:500]
        return response.json()

    post()  # warm-up
    connection.queries_log = deque(maxlen=1_000_000)  # Django keeps 9,000: too few to count an N+1 at scale
    with CaptureQueriesContext(connection) as ctx:
        answer = post()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        post()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    out: dict[str, object] = {
        "queries": len(ctx.captured_queries),
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
        "action": answer["action"],
        "verified": answer["identity"]["verified"],
    }
    if top:
        counts = Counter(template(q["sql"]) for q in ctx.captured_queries)
        out["repeated"] = [f"{n}× {sql}" for sql, n in counts.most_common(top) if n > 1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--top", type=int, default=0, help="show the N most repeated SQL statements")
    args = parser.parse_args()
    setup_test_environment()
    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        results = run(args)
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"POST /api/v1/gate on {connection.vendor} ({args.runs} runs each, after one warm-up)")
    print(f"{'files':>6} {'apps':>5} {'app?':>5} {'queries':>8} {'median ms':>10} {'p95 ms':>8}  action verified")
    for r in results:
        print(
            f"{r['files']:>6} {r['applications']:>5} {'yes' if r['application'] else 'no':>5} {r['queries']:>8} "
            f"{r['median_ms']:>10} {r['p95_ms']:>8}  {r['action']} {r['verified']}"
        )
        for line in r.get("repeated", []):
            print(f"{'':>14}{line}")


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from core import roles
    from policies.services import load_default_pack

    roles.sync_roles()
    load_default_pack(force=True)
    user = get_user_model().objects.create_user(username="bench-ci", password="x" * 16)
    user.groups.add(Group.objects.get(name=roles.ADMINISTRATOR))
    client = Client()
    client.force_login(user)
    results = []
    for i, (files, apps) in enumerate(SCALES):
        body = build(files, apps, tag=str(i))
        for with_app in (True, False):
            request = {"repo_id": body["repo_id"], "revision": body["revision"], "stage": "build"}
            request["files"] = body["files"]
            if with_app:
                request["application"] = body["application"]
            row = {"files": files, "applications": apps, "application": with_app}
            row.update(measure(client, request, args.runs, args.top))
            results.append(row)
    return results


if __name__ == "__main__":
    main()
