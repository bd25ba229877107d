"""`modelgate scan PATH…` and `modelgate gate REPO@REV --stage S [--dir DIR] --url URL --token T`.

scan: the server's pure scanners run locally, with the `manage.py scan` contract: `--json` prints one
  `{"path", "format", "verdict", "sha256", "findings": [...]}` per line; exit 0 all safe, 1 any
  suspicious/malicious/unscannable, 2 usage error.
gate: hashes the files under --dir and asks `POST /api/v1/gate`; prints the answer (json, sarif or
  junit); exit 0 unless the action is fail or the files do not verify (1); 2 on usage or network error.
  --url and --token default to $MODELGATE_URL and $MODELGATE_TOKEN (prefer the variable: argv is
  visible to other processes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelgate_client import __version__
from modelgate_client.files import hash_directory
from scanning.scanners import base, scan_file

STAGES = ["proxy", "develop", "source", "build", "stage-release", "release", "operate"]
FORMATS = ["json", "sarif", "junit"]
ACCEPT = {"json": "application/json", "sarif": "application/sarif+json", "junit": "application/xml"}
MODEL_DIR_BASE = "MODELDIR"
SKIP_SCAN_DIRS = {".git", ".hg", ".svn", "__pycache__"}


class UsageError(Exception):
    """Exit status 2."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelgate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"modelgate-client {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    scan = sub.add_parser("scan", help="scan local model files or folders (nothing is loaded or executed)")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument("--json", action="store_true", help="one JSON object per line per file")
    scan.add_argument("--max-seconds", type=float, default=None, help="time limit per file (default 120)")
    scan.add_argument("--no-progress", action="store_true", help="accepted as `manage.py scan` does (no bar here)")

    gate = sub.add_parser("gate", help="ask a Modelgate server whether REPO@REV may be used at a stage")
    gate.add_argument("target", metavar="REPO_ID@REVISION")
    gate.add_argument("--stage", required=True, choices=STAGES)
    gate.add_argument("--dir", dest="directory", help="folder holding the model files to verify")
    gate.add_argument("--application", help="application slug or id (an application token implies its own)")
    gate.add_argument("--url", default=os.environ.get("MODELGATE_URL", ""), help="server URL ($MODELGATE_URL)")
    gate.add_argument("--token", default=os.environ.get("MODELGATE_TOKEN", ""), help="CI token ($MODELGATE_TOKEN)")
    gate.add_argument("--format", dest="fmt", choices=FORMATS, default="json")
    gate.add_argument("--output", help="write the answer to this file instead of stdout")
    gate.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the server")

    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return run_scan(args) if args.command == "scan" else run_gate(args)
    except UsageError as exc:
        print(f"modelgate: {exc}", file=sys.stderr)
        return 2


# --- scan ---------------------------------------------------------------------------------------


def _collect(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    seen: set[str] = set()
    for raw in paths:
        root = Path(raw)
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_SCAN_DIRS)
                for name in sorted(filenames):
                    candidate = Path(dirpath, name)
                    if candidate.is_file() and str(candidate) not in seen:
                        seen.add(str(candidate))
                        out.append(candidate)
        elif str(root) not in seen:
            seen.add(str(root))
            out.append(root)
    return out


def run_scan(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    limits = base.Limits()
    if args.max_seconds is not None:
        if args.max_seconds <= 0:
            raise UsageError("--max-seconds must be positive")
        limits = replace(limits, max_seconds=args.max_seconds)
    flagged = False
    rows = []
    for path in _collect(args.paths):
        try:
            result = scan_file(str(path), limits=limits)
        except OSError as exc:  # unreadable: fail closed for this file, keep going
            finding = base.Finding(
                rule="file.unreadable",
                category=base.Category.UNSCANNABLE,
                severity=base.Severity.MEDIUM,
                verdict=base.Verdict.UNSCANNABLE,
                message="The file could not be read.",
                evidence=f"{type(exc).__name__}: {exc}",
            )
            result = base.ScanResult(
                path=str(path), format="unknown", verdict=base.Verdict.UNSCANNABLE, sha256="", size=0,
                findings=[finding],
            )  # fmt: skip
        result.path = str(path)
        flagged = flagged or result.verdict.label != "safe"
        if args.json:
            print(json.dumps(result.as_contract()), flush=True)
        else:
            rows.append(result)
    if not args.json:
        print(f"{'VERDICT':<12} {'FORMAT':<18} {'FINDINGS':>8}  PATH")
        for r in rows:
            print(f"{r.verdict.label:<12} {r.format[:18]:<18} {len(r.findings):>8}  {r.path}")
            for f in r.findings:
                c = f.as_contract()
                print(f"    [{c['severity']}] {c['category']} {c['rule']}: {c['message']}")
    return 1 if flagged else 0


# --- gate ---------------------------------------------------------------------------------------


def run_gate(args: argparse.Namespace) -> int:
    repo_id, _, revision = args.target.partition("@")
    if not repo_id:
        raise UsageError("give REPO_ID@REVISION")
    if not args.url:
        raise UsageError("give --url or set MODELGATE_URL")
    if not args.token:
        raise UsageError("give --token or set MODELGATE_TOKEN")
    body: dict[str, Any] = {"repo_id": repo_id, "revision": revision or "main", "stage": args.stage}
    if args.application:
        body["application"] = args.application
    if args.directory:
        try:
            files = hash_directory(args.directory)
        except OSError as exc:
            raise UsageError(str(exc)) from exc
        if files:
            body["files"] = files
    url = args.url.rstrip("/") + "/api/v1/gate?" + urllib.parse.urlencode({"format": args.fmt})
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own server
        url,
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={
            "Authorization": f"Bearer {args.token}",
            "Content-Type": "application/json",
            "Accept": ACCEPT[args.fmt],
            "User-Agent": f"modelgate-client/{__version__}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310
            text = response.read().decode("utf-8")
            action = response.headers.get("X-Modelgate-Action")
            verified = response.headers.get("X-Modelgate-Verified")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")[:2000]
        raise UsageError(f"the server answered {exc.code}: {detail}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise UsageError(f"cannot reach {args.url}: {exc}") from exc
    if args.fmt == "json":
        result = json.loads(text)
        action, verified = result.get("action"), "true" if result.get("identity", {}).get("verified") else "false"
    elif args.fmt == "sarif" and args.directory:
        text = json.dumps(_locate(json.loads(text), Path(args.directory)), indent=2)
    if action not in {"none", "warn", "fail"} or verified not in {"true", "false"}:
        raise UsageError("the server's answer has no verdict (is it a Modelgate server?)")
    if args.output:
        Path(args.output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    else:
        print(text)
    print(f"modelgate: {args.target} at {args.stage}: action {action}, files verified: {verified}", file=sys.stderr)
    return 1 if action == "fail" or verified != "true" else 0


def _locate(sarif: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Point the model file locations at --dir: relative to the working folder when inside it (what
    code scanning expects), else through the run's originalUriBaseIds."""
    try:
        prefix: str | None = directory.resolve().relative_to(Path.cwd().resolve()).as_posix().rstrip("/") + "/"
    except ValueError:
        prefix = None
    for run in sarif.get("runs", []):
        if prefix is None:
            run["originalUriBaseIds"] = {MODEL_DIR_BASE: {"uri": directory.resolve().as_uri() + "/"}}
            continue
        for result in run.get("results", []):
            for location in result.get("locations", []):
                artifact = location.get("physicalLocation", {}).get("artifactLocation", {})
                if artifact.get("uriBaseId") == MODEL_DIR_BASE:
                    artifact["uri"] = ("" if prefix == "./" else prefix) + artifact["uri"]
                    del artifact["uriBaseId"]
    return sarif
