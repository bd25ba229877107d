"""Page latency (server time, in-process Django test client) and query counts at scale, on PostgreSQL.

    createdb -h 127.0.0.1 -U postgres modelgate_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/modelgate_bench
    DEBUG=1 .venv/bin/python manage.py migrate
    DEBUG=1 .venv/bin/python manage.py seed_demo --size large            # 10k models, 50k versions, 200k violations
    .venv/bin/python bench/overview/bench_pages.py [--runs 30] [--json]

Runs with DEBUG off (production settings). Each page is requested `--runs` times after two warm-up
requests; the query count is captured on one extra request. The target is p95 < 300 ms with a query
count that does not depend on the data size (compare against a smaller seed, e.g.
`seed_demo --size large --models 1000 --violations 20000` in another database).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.overview.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdef")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from core import roles  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from inventory.models import Application, Organization
    from policies.models import Violation

    roles.sync_roles()
    user, _ = get_user_model().objects.get_or_create(username="bench-manager")
    user.groups.add(Group.objects.get(name=roles.MANAGER))
    client = Client()
    client.force_login(user)
    division = Organization.objects.filter(parent__isnull=False, children__isnull=False).order_by("id").first()
    app = Application.objects.order_by("id").first()
    pages = [
        ("overview", "/overview/"),
        ("overview htmx org filter", f"/overview/?organization={division.pk if division else ''}"),
        ("overview app filter", f"/overview/?application={app.pk if app else ''}"),
        ("violations list", "/policies/violations/"),
        ("violations critical", "/policies/violations/?band=critical"),
        ("violations app + category", f"/policies/violations/?application={app.pk if app else ''}&category=legal"),
        ("violations page 50", "/policies/violations/?page=50"),
    ]
    result = {
        "database": connection.vendor,
        "violations": Violation.objects.count(),
        "pages": [],
    }
    from governance.overview import refresh_rollups

    run = refresh_rollups()  # what the every-minute beat task does in production
    result["rollup_refresh_ms"] = run.duration_ms
    for name, url in pages:
        headers = {"HTTP_HX_REQUEST": "true"} if "htmx" in name else {}
        status = 0
        for _ in range(2):
            status = client.get(url, **headers).status_code
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            status = client.get(url, **headers).status_code
            times.append((time.perf_counter() - t0) * 1000)
        with CaptureQueriesContext(connection) as ctx:
            client.get(url, **headers)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
        result["pages"].append({"page": name, "url": url, "status": status, "p50_ms": round(statistics.median(times), 1),
                                "p95_ms": round(p95, 1), "max_ms": round(times[-1], 1),
                                "queries": len(ctx.captured_queries)})  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['database']}: {result['violations']} violations, {args.runs} runs per page; "
          f"rollup refresh (beat, every minute) took {result['rollup_refresh_ms']} ms")  # fmt: skip
    print(f"{'page':28} {'status':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
    for row in result["pages"]:
        print(f"{row['page']:28} {row['status']:>6} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8} "
              f"{row['queries']:>8}")  # fmt: skip


if __name__ == "__main__":
    main()
