"""`modelgate scan PATH…` and `modelgate gate REPO@REV --stage S [--dir DIR] --url URL --token T`.

scan: the server's pure scanners run locally, with the `manage.py scan` contract: `--json` prints one
  `{"path", "format", "verdict", "sha256", "findings": [...]}` per line; exit 0 all safe, 1 any
  suspicious/malicious/unscannable, 2 usage error.
gate: hashes the files under --dir and asks `POST /api/v1/gate`; prints the answer (json, sarif or
  junit); exit 0 unless the action is fail or the files do not verify (1); 2 on usage or network error.
  Files a folder walk refuses (a link leading out of the folder, a FIFO, a device) fail the identity.

Folders are read through the server's own `core.files` (shipped in the wheel): one skip list, one symlink
policy, the same relative paths and hashes as the server's import, gate and `manage.py scan`.
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
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.files import FileRefused, hash_folder
from core.files import collect_targets as collect
from modelgate_client import __version__
from scanning.scanners import base, scan_file

STAGES = ["proxy", "develop", "source", "build", "stage-release", "release", "operate"]
FORMATS = ["json", "sarif", "junit"]
ACCEPT = {"json": "application/json", "sarif": "application/sarif+json", "junit": "application/xml"}
MODEL_DIR_BASE = "MODELDIR"
IDENTITY_RULE = "modelgate/file-identity"  # the server's SARIF rule for file identity


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


def _unscannable(path: str, size: int, rule: str, message: str, evidence: str) -> base.ScanResult:
    finding = base.Finding(
        rule=rule,
        category=base.Category.UNSCANNABLE,
        severity=base.Severity.MEDIUM,
        verdict=base.Verdict.UNSCANNABLE,
        message=message,
        evidence=evidence,
    )
    return base.ScanResult(
        path=path, format="unknown", verdict=base.Verdict.UNSCANNABLE, sha256="", size=size, findings=[finding]
    )


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
    for item in collect(args.paths):
        path = item.shown
        if item.real is None:
            result = _unscannable(str(path), 0, "file.refused", "The file was not read: " + item.refused, "")
        else:
            try:
                result = scan_file(str(item.real), limits=limits)
            except OSError as exc:  # unreadable: fail closed for this file, keep going
                evidence = f"{type(exc).__name__}: {exc}"
                result = _unscannable(str(path), item.size, "file.unreadable", "The file could not be read.", evidence)
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
    refused: list[dict[str, str]] = []
    if args.directory:
        try:
            listing = hash_directory(args.directory)
        except FileRefused as exc:
            raise UsageError(f"{args.directory}: {exc.reason}") from None
        refused = [item for item in listing if item.get("refused")]
        files = [item for item in listing if not item.get("refused")]
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
    if refused:
        text = _add_refusals(text, args.fmt, refused, sent_files=bool(body.get("files")))
        verified = "false"
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


def hash_directory(directory: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The server gate's `--dir` listing (`policies.services.gate.hash_directory`), from `core.files`.

    `{"path", "sha256"}` per file, `{"path", "sha256": "", "refused": reason}` per file the walk refuses,
    sorted by path. Raises FileRefused when the folder itself cannot be walked.
    """
    hashed, refused = hash_folder(directory)
    out = [{"path": h.path, "sha256": h.sha256} for h in hashed]
    out += [{"path": r.path, "sha256": "", "refused": r.reason} for r in refused]
    return sorted(out, key=lambda item: item["path"])


def _add_refusals(text: str, fmt: str, refused: list[dict[str, str]], *, sent_files: bool) -> str:
    """Fail the identity in the server's answer for the files the walk refused, as the server's own
    `gate --dir` reports them (`not read: <reason>`, sorted by path): the API takes hashes only, so the
    refused files were not sent. When nothing was sent, the server's "no files supplied" gives way to them.
    """

    def path_of(m: dict[str, Any]) -> str:
        return str(m.get("path") or "")

    def uri_of(r: dict[str, Any]) -> str:
        return str(r["locations"][0].get("physicalLocation", {}).get("artifactLocation", {}).get("uri", ""))

    added: list[dict[str, Any]] = [
        {"path": r["path"], "reason": f"not read: {r['refused']}", "expected": None, "actual": None} for r in refused
    ]
    if fmt == "json":
        result = json.loads(text)
        identity = result.setdefault("identity", {})
        kept = [m for m in identity.get("mismatches", []) if sent_files or m.get("path") is not None]
        identity["verified"] = False
        identity["mismatches"] = sorted(kept + added, key=path_of)
        return json.dumps(result)
    if fmt == "sarif":
        sarif = json.loads(text)
        for run in sarif.get("runs", []):
            rules = run.get("tool", {}).get("driver", {}).get("rules", [])
            index = next((i for i, r in enumerate(rules) if r.get("id") == IDENTITY_RULE), None)
            results = run.get("results", [])
            policies = [r for r in results if r.get("ruleId") != IDENTITY_RULE]
            checks = [r for r in results if r.get("ruleId") == IDENTITY_RULE]
            located = [r for r in checks if sent_files or uri_of(r)]  # located, or the model-wide "no files"
            new = [
                {
                    "ruleId": IDENTITY_RULE,
                    **({"ruleIndex": index} if index is not None else {}),
                    "level": "error",
                    "message": {"text": f"{m['path']}: {m['reason']}."},
                    "locations": [_model_file(m["path"])],
                    "properties": {"expected": None, "actual": None},
                }
                for m in added
            ]
            run["results"] = policies + sorted(located + new, key=uri_of)
            for invocation in run.get("invocations", []):
                invocation["exitCode"] = 1
                invocation.setdefault("properties", {})["verified"] = False
        return json.dumps(sarif)
    suite = ET.fromstring(text)  # noqa: S314 - the operator's own server's answer
    case = suite.find("testcase[@classname='modelgate.identity']")
    if case is None:
        case = ET.SubElement(suite, "testcase", classname="modelgate.identity", name="files are the reviewed ones")
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
    failure = case.find("failure")
    if failure is None:
        failure = ET.SubElement(case, "failure", message="file identity not verified", type="identity")
        suite.set("failures", str(int(suite.get("failures", "0")) + 1))
    lines = (failure.text or "").splitlines() if sent_files else []
    lines += [f"{m['path']}: {m['reason']}" for m in added]
    failure.text = "\n".join(sorted(lines, key=lambda line: line.split(": ", 1)[0]))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _model_file(path: str) -> dict[str, Any]:
    """A SARIF location of a model file, as the server writes it (relative to MODELDIR, the --dir)."""
    return {"physicalLocation": {"artifactLocation": {"uri": path, "uriBaseId": MODEL_DIR_BASE}}}


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
