"""Load bench (issue 11 item 8): concurrent users against gunicorn on PostgreSQL. Not a test.

    .venv/bin/python bench/load/run.py                       # create modelgate_load, seed 200k, drive, drop
    .venv/bin/python bench/load/run.py --reuse --keep        # keep the seeded database between runs

Prepares its own PostgreSQL database (created and dropped by the script; never `modelgate`), seeds it with
`seed_demo --size large`, refreshes the overview rollup once (what beat does every minute), starts gunicorn
(DEBUG off) on 127.0.0.1, logs N virtual users in through the login form (the gate uses a CI token), and
drives each endpoint at each concurrency for a bounded time. Prints p50/p95/max, errors and req/s per
endpoint × concurrency. Every request goes to 127.0.0.1; each phase stops after `--duration` seconds or
`--max-requests` requests; gunicorn is stopped at the end.

`--stale` ages the rollup by ten minutes before each overview phase (beat is behind: before issue 11 item 8,
every request then re-aggregated the 200k violations inline). `--code DIR` serves another checkout of the app
(e.g. the commit before a change, exported with `git archive`) against the same database.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PREPARE = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from core import roles
from identity.services import create_token
from inventory.models import ApplicationModel

roles.sync_roles()
User = get_user_model()
manager = Group.objects.get(name=roles.MANAGER)
for i in range({users}):
    user, _ = User.objects.get_or_create(username=f"load-{{i}}")
    user.set_password(f"load-password-{{i}}")
    user.save()
    user.groups.add(manager)
admin, made = User.objects.get_or_create(username="load-admin", defaults={{"is_superuser": True, "is_staff": True}})
admin.set_password("load-admin-password")
admin.save()
from policies.models import Violation
write_ids = list(Violation.objects.filter(state="open").order_by("id").values_list("id", flat=True)[:200])
link = ApplicationModel.objects.select_related("application", "version__model").order_by("id").first()
_, secret = create_token(user=admin, name=f"load {{timezone.now():%H%M%S%f}}", capability="gate",
                         expires_on=timezone.now().date() + timedelta(days=1), application=link.application)
print(json.dumps({{"token": secret, "repo_id": link.version.model.repo_id, "revision": link.version.commit,
                  "application": link.application.slug, "write_ids": write_ids}}))
"""
# Keyset pages (policies/triage.py): the deep page is reached by its cursor, the key of the last row of the
# page before it in the default order (what following "Next" that many times puts in the URL).
DEEP_CURSOR = """
from policies import triage
from policies.models import Violation
s, d = triage.parse_sort(None)
qs = triage.filter_state(Violation.objects.all(), "open")
rows = triage.having_state(triage.grouped(qs, sort=s), "open").order_by(*triage._order(s, d))
total = rows.count()
page = max(2, min({page}, total // triage.PAGE_SIZE))
r = rows[(page - 1) * triage.PAGE_SIZE - 1]
print(page, triage.encode_cursor([r[s.field], r["version_id"], r["policy_id"]]))
"""
REFRESH = "from governance.overview import refresh_rollups; r = refresh_rollups(); print(r.duration_ms, r.violations)"


def pg(dsn: str, sql: str, *, dbname: str = "postgres") -> None:
    with psycopg.connect(f"{dsn}/{dbname}", autocommit=True) as conn:
        conn.execute(sql)


def django_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"{args.dsn}/{args.db}",
        "DJANGO_SETTINGS_MODULE": "bench.overview.settings",
        "SECRET_KEY": "load-bench-only-secret-key-0123456789abcdef",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "CELERY_BROKER_URL": "memory://",  # enqueues stay in the web process: no worker in this bench
        "CONN_MAX_AGE": "60",
        "MODELGATE_PAGE_CACHE": "0" if args.no_cache else "1",
        **({"CACHE_URL": args.cache_url} if args.cache_url else {}),
    }


def manage(args: argparse.Namespace, *argv: str, code: Path = ROOT) -> str:
    out = subprocess.run(
        [PYTHON, "manage.py", *argv], cwd=code, env=django_env(args), check=True, capture_output=True, text=True
    )
    return out.stdout


def prepare(args: argparse.Namespace) -> None:
    if args.reuse:
        return
    pg(args.dsn, f'DROP DATABASE IF EXISTS "{args.db}"')
    pg(args.dsn, f'CREATE DATABASE "{args.db}"')
    t0 = time.monotonic()
    manage(args, "migrate", "-v0")
    models = max(100, args.violations // 20)
    manage(args, "seed_demo", "--size", "large", "--violations", str(args.violations), "--models", str(models))
    print(f"seeded {args.violations} violations in {time.monotonic() - t0:.0f} s (seed_demo ends with ANALYZE)")


class User:
    def __init__(self, base: str, n: int, *, username: str = "", password: str = "") -> None:
        self.session = requests.Session()
        self.base = base
        username, password = username or f"load-{n}", password or f"load-password-{n}"
        page = self.session.get(f"{base}/accounts/login/", timeout=60)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert csrf, "no CSRF token on the login form"
        done = self.session.post(
            f"{base}/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": csrf[1]},
            headers={"Referer": f"{base}/accounts/login/"},
            allow_redirects=False,
            timeout=60,
        )
        assert done.status_code == 302, f"login of {username} failed: {done.status_code}"


class Writer:
    """Triage while the users read: every `interval` seconds one row's due date changes through the bulk
    triage form (a real, audited write; it moves the data generation, so every cached page and gate answer
    computed before it is stale and the next read of each is a miss)."""

    def __init__(self, base: str, ids: list[int], per_minute: float) -> None:
        self.user = User(base, 0, username="load-admin", password="load-admin-password")
        self.ids, self.interval = ids, 60.0 / per_minute if per_minute > 0 else 0.0
        self.done: list[int] = []
        self.errors: list[int | str] = []

    def run(self, deadline: float) -> None:
        if not self.interval or not self.ids:
            return
        session, base = self.user.session, self.user.base
        page = session.get(f"{base}/policies/violations/", timeout=60)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        n = 0
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            # A date this row does not have yet (a write that changes nothing is not a write).
            due = (date(2027, 1, 1) + timedelta(days=int(time.time() * 10) % 700 + n % 3)).isoformat()
            try:
                r = session.post(
                    f"{base}/policies/violations/bulk-triage/",
                    data={"ids": self.ids[n % len(self.ids)], "action": "due", "due_on": due,
                          "csrfmiddlewaretoken": csrf[1] if csrf else ""},
                    headers={"Referer": f"{base}/policies/violations/"}, allow_redirects=False, timeout=30,
                )  # fmt: skip
                (self.done if r.status_code in (200, 302) else self.errors).append(r.status_code)
            except requests.RequestException as exc:  # e.g. a kept-alive connection the server closed: next one
                self.errors.append(type(exc).__name__)
            n += 1
            time.sleep(max(0.0, self.interval - (time.monotonic() - t0)))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc; 0 where unreadable)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def server_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return [master]
    return [master, *map(int, children)]


def drive(
    args: argparse.Namespace, users: list[User], endpoint: dict[str, Any], concurrency: int, writer: Writer | None
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    hits = [0, 0]  # served from the cache: current, stale (while being recomputed after a write)
    lock = threading.Lock()
    deadline = time.monotonic() + args.duration
    budget = [args.max_requests]

    def worker(user: User) -> None:
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            t0 = time.perf_counter()
            try:
                if endpoint["method"] == "POST":
                    r = requests.post(
                        user.base + endpoint["path"], json=endpoint["json"], headers=endpoint["headers"], timeout=30
                    )
                else:
                    r = user.session.get(user.base + endpoint["path"], timeout=30, allow_redirects=False)
                ok, what = r.status_code == 200, str(r.status_code)
                state = r.headers.get("X-Modelgate-Cache", "")
            except requests.RequestException as exc:
                ok, what, state = False, type(exc).__name__, ""
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                hits[0] += state == "hit"
                hits[1] += state == "stale"
                if not ok:
                    errors.append(what)

    started = time.monotonic()
    pids = server_pids(args.server_pid) if getattr(args, "server_pid", 0) else []
    cpu_server, cpu_client = cpu_seconds(pids), cpu_seconds([os.getpid()])
    threads = [threading.Thread(target=worker, args=(users[i],)) for i in range(concurrency)]
    writes_before = len(writer.done) if writer else 0
    if writer is not None:
        threads.append(threading.Thread(target=writer.run, args=(deadline,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    cpu_server, cpu_client = cpu_seconds(pids) - cpu_server, cpu_seconds([os.getpid()]) - cpu_client
    latencies.sort()
    n = len(latencies)
    pick = (lambda q: round(latencies[min(n - 1, max(0, round(q * n) - 1))], 1)) if n else (lambda q: None)
    return {
        "endpoint": endpoint["name"],
        "users": concurrency,
        "requests": n,
        "p50_ms": round(statistics.median(latencies), 1) if n else None,
        "p95_ms": pick(0.95),
        "max_ms": round(latencies[-1], 1) if n else None,
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "req_per_s": round(n / elapsed, 1) if elapsed else 0,
        "server_cores": round(cpu_server / elapsed, 2) if elapsed else 0,
        "client_cores": round(cpu_client / elapsed, 2) if elapsed else 0,
        "cache_hits": hits[0],
        "cache_stale": hits[1],
        "writes": (len(writer.done) - writes_before) if writer else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db", default="modelgate_load", help="the bench's own database (never `modelgate`)")
    parser.add_argument("--violations", type=int, default=200_000)
    parser.add_argument("--reuse", action="store_true", help="use an already seeded --db as it is")
    parser.add_argument("--keep", action="store_true", help="do not drop --db at the end")
    parser.add_argument("--users", default="10,50", help="concurrency levels")
    parser.add_argument("--duration", type=float, default=20, help="seconds per endpoint × concurrency")
    parser.add_argument("--max-requests", type=int, default=50000, help="per endpoint × concurrency")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--port", type=int, default=8781)
    parser.add_argument("--deep-page", type=int, default=500)
    parser.add_argument("--only", default="", help="comma-separated endpoint names (default: all)")
    parser.add_argument("--stale", action="store_true", help="age the rollup 10 min before each overview phase")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout of the app to serve")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--writes-per-min",
        type=float,
        default=30,
        help="triage writes during each phase (0: read-only); each one invalidates the caches",
    )
    parser.add_argument("--no-cache", action="store_true", help="serve with MODELGATE_PAGE_CACHE=0")
    parser.add_argument("--cache-url", default="", help="CACHE_URL of the server (default: in-process cache)")
    args = parser.parse_args()
    if args.db in {"modelgate", "postgres"} or args.db.startswith("test_modelgate"):
        parser.error("use a database of the bench's own")
    levels = [int(x) for x in args.users.split(",")]
    prepare(args)
    gunicorn = None
    try:
        info = json.loads(manage(args, "shell", "-c", PREPARE.format(users=max(levels))).strip().splitlines()[-1])
        refresh_ms, violations = map(int, manage(args, "shell", "-c", REFRESH).strip().splitlines()[-1].split())
        base = f"http://127.0.0.1:{args.port}"
        log = ROOT / "bench" / "out" / "load-gunicorn.log"  # the server's own log (axes logs every login)
        log.parent.mkdir(parents=True, exist_ok=True)
        gunicorn = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "governance.wsgi", "-b", f"127.0.0.1:{args.port}", "-w", str(args.workers),
             "-k", "gthread", "--threads", str(args.threads), "--timeout", "60", "--log-level", "warning"],
            cwd=args.code, env=django_env(args), stdout=log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        args.server_pid = gunicorn.pid
        for _ in range(120):
            try:
                requests.get(f"{base}/accounts/login/", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.5)
        users = [User(base, n) for n in range(max(levels))]
        writer = Writer(base, info["write_ids"], args.writes_per_min) if args.writes_per_min > 0 else None
        gate = {"repo_id": info["repo_id"], "revision": info["revision"], "stage": "build",
                "application": info["application"]}  # fmt: skip
        deep_page, deep_path = args.deep_page, f"/policies/violations/?page={args.deep_page}"
        if (args.code / "policies" / "triage.py").exists():  # keyset pages: a cursor, not ?page=
            out = manage(args, "shell", "-c", DEEP_CURSOR.format(page=args.deep_page), code=args.code)
            page_no, cursor = out.strip().splitlines()[-1].split()
            deep_page, deep_path = int(page_no), f"/policies/violations/?after={cursor}"
        endpoints: list[dict[str, Any]] = [
            {"name": "overview", "method": "GET", "path": "/overview/"},
            {"name": "violations p1", "method": "GET", "path": "/policies/violations/"},
            {"name": f"violations p{deep_page}", "method": "GET", "path": deep_path},
            {"name": "gate", "method": "POST", "path": "/api/v1/gate", "json": gate,
             "headers": {"Authorization": f"Bearer {info['token']}"}},
        ]  # fmt: skip
        if args.only:
            endpoints = [e for e in endpoints if e["name"].split()[0] in args.only.split(",")]
        results = []
        for endpoint in endpoints:
            for level in levels:
                for warm in users[:2]:
                    warm.session.get(base + endpoint["path"], timeout=60) if endpoint["method"] == "GET" else None
                if args.stale and endpoint["name"] == "overview":  # after the warm-up, which would refresh it
                    pg(args.dsn, "UPDATE governance_rolluprun SET refreshed_at = now() - interval '10 minutes'",
                       dbname=args.db)  # fmt: skip
                results.append(drive(args, users, endpoint, level, writer))
                row = results[-1]
                if not args.json:
                    print(f"{row['endpoint']:16} {row['users']:>3} users  n={row['requests']:<5} p50={row['p50_ms']} "
                          f"p95={row['p95_ms']} max={row['max_ms']} ms  errors={row['errors']} "
                          f"{row['error_kinds'] or ''} {row['req_per_s']} req/s  hits={row['cache_hits']} stale={row['cache_stale']} "
                          f"writes={row['writes']}  cpu: server {row['server_cores']} client {row['client_cores']} cores",
                          flush=True)  # fmt: skip
        summary = {"database": args.db, "violations": violations, "rollup_refresh_ms": refresh_ms,
                   "gunicorn": f"{args.workers} workers × {args.threads} threads", "stale": args.stale,
                   "duration_s": args.duration, "page_cache": not args.no_cache,
                   "writes_per_min": args.writes_per_min, "results": results}  # fmt: skip
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            print(f"{violations} violations; rollup refresh (beat's work, outside requests) took {refresh_ms} ms")
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        if not args.keep:
            pg(args.dsn, f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')


if __name__ == "__main__":
    main()
