"""Peer-scanner worker, run with the bench-only interpreter (``bench/.venv-peers/bin/python``).

Usage: ``python peers_worker.py TOOL`` where TOOL is picklescan | modelscan | fickling | modelaudit
(or ``python peers_worker.py TOOL --once PATH`` for one file with timings, used by the throughput bench).
Reads one JSON object per line on stdin (``{"path": "..."}``), answers one JSON line per request on stdout:
``{"outcome": "flagged" | "clean" | "error", "detail": "..."}``. The parent (``peers.py``) enforces timeouts
by killing the process. Each tool is driven through its own public Python API with the same decision its CLI
makes (exit code "unsafe" = flagged), so import cost is paid once per tool, not once per file.

Nothing here unpickles: every peer is a static scanner. This file must stay stdlib-only apart from the peers.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import traceback


def _short(items: list[str], n: int = 4) -> str:
    items = [i for i in items if i]
    out = "; ".join(items[:n])
    if len(items) > n:
        out += f"; +{len(items) - n} more"
    return out[:400]


# --- picklescan ------------------------------------------------------------------------------------------
def _picklescan():
    from picklescan.scanner import SafetyLevel, scan_file_path

    def scan(path: str) -> dict:
        res = scan_file_path(path)
        dangerous = [f"{g.module}.{g.name}" for g in res.globals if g.safety == SafetyLevel.Dangerous]
        suspicious = [f"{g.module}.{g.name}" for g in res.globals if g.safety == SafetyLevel.Suspicious]
        if res.issues_count > 0 or res.infected_files > 0:  # CLI exit 1
            return {"outcome": "flagged", "detail": "dangerous: " + _short(dangerous)}
        if res.scan_err:  # CLI exit 2
            return {
                "outcome": "error",
                "detail": "scan error" + (f"; suspicious: {_short(suspicious)}" * bool(suspicious)),
            }
        if suspicious:  # shown on the Hub as "suspicious" but exit code 0: not a block
            return {"outcome": "clean", "detail": "suspicious (not blocking): " + _short(suspicious)}
        return {"outcome": "clean", "detail": f"{len(res.globals)} globals, all innocuous"}

    return scan


# --- modelscan -------------------------------------------------------------------------------------------
def _modelscan():
    from modelscan.modelscan import ModelScan
    from modelscan.settings import DEFAULT_SETTINGS

    def scan(path: str) -> dict:
        ms = ModelScan(settings=DEFAULT_SETTINGS)
        report = ms.scan(path)
        issues = report.get("issues", [])
        errors = report.get("errors", [])
        scanned = report.get("summary", {}).get("scanned", {}).get("total_scanned", 0)
        if issues:
            return {
                "outcome": "flagged",
                "detail": _short([f"{i.get('severity')} {i.get('module')}.{i.get('operator')}" for i in issues]),
            }
        if errors:
            return {"outcome": "error", "detail": _short([str(e.get("description", e)) for e in errors])}
        if not scanned:
            return {"outcome": "clean", "detail": "skipped (format not handled)"}
        return {"outcome": "clean", "detail": "no issues"}

    return scan


# --- fickling --------------------------------------------------------------------------------------------
def _fickling():
    from pathlib import PurePosixPath

    from fickling.cli import HF_RAW_PICKLE_EXTENSIONS, HF_ZIP_PICKLE_EXTENSIONS
    from fickling.loader import scan_file, scan_zip_archive
    from fickling.polyglot import find_file_properties

    def scan(path: str) -> dict:
        # The same per-file routing fickling's own repository scanner (`fickling --huggingface`) applies.
        ext = PurePosixPath(path).suffix.lower()
        with contextlib.redirect_stdout(io.StringIO()):
            props = find_file_properties(path)
            if props["is_torch_zip"] or props["is_standard_zip"] or ext in HF_ZIP_PICKLE_EXTENSIONS:
                results = list(scan_zip_archive(path, graceful=True).values())
            elif props["is_valid_pickle"] or ext in HF_RAW_PICKLE_EXTENSIONS:
                results = [scan_file(path, graceful=True)]
            else:
                kind = "7z/tar/numpy (unsupported)" if (props.get("is_7z") or props["is_tar"]) else "not a pickle"
                return {"outcome": "clean", "detail": f"skipped: {kind}"}
        unsafe = [r for r in results if not r.is_safe]
        errors = [e for r in results for e in r.errors]
        if unsafe:
            return {"outcome": "flagged", "detail": _short([f"{r.filepath}: {r.severity.name}" for r in unsafe])}
        if errors:
            return {"outcome": "error", "detail": _short(errors)}
        if not results:
            return {"outcome": "clean", "detail": "no pickle member scanned"}
        return {"outcome": "clean", "detail": "LIKELY_SAFE"}

    return scan


# --- modelaudit ------------------------------------------------------------------------------------------
def _modelaudit():
    from modelaudit.core import scan_model_directory_or_file
    from modelaudit.core_results import determine_exit_code, results_have_security_findings

    def scan(path: str) -> dict:
        res = scan_model_directory_or_file(path, timeout=300, max_file_size=0, max_total_size=0, cache_enabled=False)
        issues = [
            f"{getattr(i.severity, 'value', i.severity)}: {i.message}"
            for i in (res.issues or [])
            if str(getattr(i.severity, "value", i.severity)).lower() in ("critical", "warning")
        ]
        code = determine_exit_code(res)
        critical = any(str(getattr(i.severity, "value", i.severity)).lower() == "critical" for i in (res.issues or []))
        # Secondary reading (reported as "modelaudit-critical"): only CRITICAL issues block.
        alt = "flagged" if critical else ("error" if code == 2 else "clean")
        if results_have_security_findings(res):  # CLI exit 1 (or 2 with findings)
            return {"outcome": "flagged", "detail": _short(issues) or "failed security check", "alt": alt}
        if code == 2:
            why = [
                f"{getattr(c, 'name', '')}: {getattr(c, 'message', '')}"
                for c in (res.checks or [])
                if str(getattr(getattr(c, "status", ""), "value", getattr(c, "status", ""))).lower() != "passed"
            ]
            why += [f"{getattr(i.severity, 'value', i.severity)}: {i.message}" for i in (res.issues or [])]
            detail = "inconclusive / operational error (exit 2)" + (f": {_short(why, 2)}" if why else "")
            return {"outcome": "error", "detail": detail, "alt": alt}
        return {"outcome": "clean", "detail": "no WARNING/CRITICAL issue", "alt": alt}

    return scan


TOOLS = {"picklescan": _picklescan, "modelscan": _modelscan, "fickling": _fickling, "modelaudit": _modelaudit}


def version(tool: str) -> str:
    from importlib.metadata import version as v

    return v(tool)


def once(tool: str, path: str, out) -> int:
    """``--once PATH``: import, scan one file, print one JSON line with the in-process scan time."""
    import resource
    import time

    t0 = time.perf_counter()
    scan = TOOLS[tool]()
    t1 = time.perf_counter()
    c1 = time.process_time()
    try:
        answer = scan(path)
    except Exception as exc:
        answer = {"outcome": "error", "detail": f"crash: {type(exc).__name__}: {exc}"[:400]}
    t2 = time.perf_counter()
    c2 = time.process_time()
    answer.update(
        {
            "version": version(tool),
            "import_seconds": t1 - t0,
            "scan_seconds": t2 - t1,
            "scan_cpu": c2 - c1,
            "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    )
    out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0


def main() -> int:
    tool = sys.argv[1]
    logging.disable(logging.CRITICAL)
    os.environ.setdefault("MODELAUDIT_TELEMETRY_DISABLED", "1")
    os.environ.setdefault("PROMPTFOO_DISABLE_TELEMETRY", "1")
    out = sys.stdout
    sys.stdout = sys.stderr  # peers print freely; keep the protocol channel clean
    if len(sys.argv) > 3 and sys.argv[2] == "--once":
        return once(tool, sys.argv[3], out)
    try:
        scan = TOOLS[tool]()
        hello = {"ready": True, "version": version(tool)}
    except Exception as exc:  # a peer that cannot even import is reported, not faked
        hello = {"ready": False, "error": f"{type(exc).__name__}: {exc}"}
    out.write(json.dumps(hello) + "\n")
    out.flush()
    if not hello["ready"]:
        return 1
    for line in sys.stdin:
        req = json.loads(line)
        try:
            answer = scan(req["path"])
        except Exception as exc:
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            answer = {"outcome": "error", "detail": f"crash: {tb}"[:400]}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
