"""Detection bench: Modelgate vs picklescan, modelscan, fickling and modelaudit on the generated corpus.

Corpus = ``tests/scanning/corpus_pickle.build_corpus`` + ``tests/scanning/corpus_formats.build_corpus`` +
``bench/scan/extra_corpus.build_corpus`` (published peer bypasses) + ``tests/scanning/corpus_real.build_corpus``
(benign files written by the real libraries; re-export, format-abuse and sniffing attacks). Nothing is ever
loaded or executed. ``--corpora real`` reports one corpus alone.

Verdict mapping:
* Modelgate: ``scan_file`` in-process; a case is *flagged* when the verdict is not ``safe`` (suspicious,
  unscannable and malicious all block the file). The exact label is compared too (informational).
* Peers: the decision their CLI exit code makes ("unsafe" = flagged; picklescan's non-blocking "suspicious"
  globals = not flagged); a scan error / timeout is reported separately (column "+err"), because a tool that
  errors does not tell the user the file is dangerous - but it does not call it clean either.

Detection rate = flagged bad cases / all bad cases (bad = expected malicious, suspicious or unscannable).
False-positive rate = flagged benign cases / all benign cases (errors on benign files are listed, not counted).

Usage: ``python -m bench.scan.detection [--tools modelgate,picklescan,...] [--corpora pickle,real] [--timeout 120]
[--peer-timeout S] [--peer-budget S] [--keep]``. A peer that hangs on a file is killed after the per-file timeout
(with its process group) and the file counts as ``timeout`` (a miss on bad files, shown under "+err").
Writes ``bench/out/detection.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.scan import extra_corpus
from bench.scan.peers import PEER_TOOLS, run_peer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "bench" / "out"
ALL_TOOLS = ("modelgate", *PEER_TOOLS)
# Rows of the report: modelaudit is also read with only CRITICAL issues blocking (its CLI blocks on WARNING too).
REPORT_ROWS = (*ALL_TOOLS, "modelaudit-critical")
BAD = ("malicious", "suspicious", "unscannable")


CORPORA = ("pickle", "formats", "extra", "real")
# not in the default run: the real corpus without the ~280 scikit-learn estimator files (for slow peers)
EXTRA_CORPORA = ("real-lite",)


def build(root: Path, corpora: tuple[str, ...] = CORPORA) -> tuple[dict[str, tuple[Path, str]], list[str]]:
    """All corpus cases: case id (relative path) -> (file, expected label). Returns notes on missing builders."""
    cases: dict[str, tuple[Path, str]] = {}
    notes: list[str] = []
    builders: list[tuple[str, Callable[[Path], list[tuple[Path, str]]]]] = []
    try:
        from tests.scanning import corpus_pickle

        builders.append(("pickle", corpus_pickle.build_corpus))
    except ImportError as exc:
        notes.append(f"tests/scanning/corpus_pickle.py not available: {exc}")
    try:
        from tests.scanning import corpus_formats

        builders.append(("formats", corpus_formats.build_corpus))
    except ImportError as exc:
        notes.append(f"tests/scanning/corpus_formats.py not available: {exc}")
    builders.append(("extra", extra_corpus.build_corpus))
    try:  # benign files written by the real libraries + identity/format-abuse/sniffing attacks
        from tests.scanning import corpus_real

        builders.append(("real", corpus_real.build_corpus))
        builders.append(("real-lite", functools.partial(corpus_real.build_corpus, estimators=False)))
    except ImportError as exc:
        notes.append(f"tests/scanning/corpus_real.py not available (needs pandas, lightgbm, xgboost): {exc}")
    for prefix, fn in builders:
        if prefix not in corpora:
            continue
        try:
            items = fn(root / prefix)
        except Exception as exc:
            notes.append(f"corpus {prefix} failed: {type(exc).__name__}: {exc}")
            continue
        for path, label in items:
            if path.is_file():
                cases[str(path.relative_to(root))] = (path, label)
    return cases, notes


def run_modelgate(files: list[Path], timeout: float) -> tuple[str, dict[Path, dict], str]:
    try:
        from scanning.scanners import scan_file
        from scanning.scanners.base import RULES_VERSION, Limits
    except ImportError as exc:
        return "", {}, f"Modelgate: not available yet ({exc})"
    limits = Limits(max_seconds=timeout)
    out: dict[Path, dict] = {}
    for f in files:
        t0 = time.monotonic()
        try:
            res = scan_file(f, limits=limits)
        except Exception as exc:  # a crash is a bug of the scanner: recorded as such
            out[f] = {
                "outcome": "error",
                "verdict": "crash",
                "detail": "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300],
                "seconds": time.monotonic() - t0,
            }
            continue
        top = max(res.findings, key=lambda x: x.verdict, default=None)
        detail = ""
        if top is not None:
            detail = f"{top.rule}: {top.evidence or top.message}"[:200]
            if top.member:
                detail += f" [member {top.member}]"
        out[f] = {
            "outcome": "clean" if res.verdict.label == "safe" else "flagged",
            "verdict": res.verdict.label,
            "format": res.format,
            "detail": detail,
            "seconds": time.monotonic() - t0,
        }
    return RULES_VERSION, out, ""


def summarize(cases: dict[str, tuple[Path, str]], results: dict[str, dict[str, dict]]) -> dict[str, dict]:
    bad = [c for c, (_, label) in cases.items() if label in BAD]
    mal = [c for c, (_, label) in cases.items() if label == "malicious"]
    benign = [c for c, (_, label) in cases.items() if label == "safe"]
    summary: dict[str, dict] = {}
    for tool, per_case in results.items():
        if not per_case:
            continue

        def outcome(c: str, per_case: dict[str, dict] = per_case) -> str:
            return per_case.get(c, {}).get("outcome", "missing")

        caught = [c for c in bad if outcome(c) == "flagged"]
        caught_err = [c for c in bad if outcome(c) in ("flagged", "error", "timeout")]
        mal_caught = [c for c in mal if outcome(c) == "flagged"]
        fps = [c for c in benign if outcome(c) == "flagged"]
        benign_err = [c for c in benign if outcome(c) in ("error", "timeout")]
        summary[tool] = {
            "bad_total": len(bad),
            "bad_flagged": len(caught),
            "detection_rate": len(caught) / len(bad) if bad else 0.0,
            "bad_flagged_or_error": len(caught_err),
            "detection_rate_incl_errors": len(caught_err) / len(bad) if bad else 0.0,
            "malicious_total": len(mal),
            "malicious_flagged": len(mal_caught),
            "benign_total": len(benign),
            "false_positives": len(fps),
            "fp_rate": len(fps) / len(benign) if benign else 0.0,
            "benign_errors": len(benign_err),
            "misses": sorted(c for c in bad if c not in caught),
            "false_positive_cases": sorted(fps),
            "benign_error_cases": sorted(benign_err),
            "seconds": sum(per_case[c].get("seconds", 0.0) for c in per_case),
        }
    return summary


def print_report(
    cases: dict[str, tuple[Path, str]],
    results: dict[str, dict[str, dict]],
    summary: dict[str, dict],
    versions: dict[str, str],
    unavailable: dict[str, str],
) -> None:
    counts = {label: sum(1 for _, lab in cases.values() if lab == label) for label in ("safe", *BAD)}
    print(
        f"\nCorpus: {len(cases)} files - {counts['malicious']} malicious, {counts['suspicious']} suspicious, "
        f"{counts['unscannable']} unscannable (bad = {sum(counts[b] for b in BAD)}), {counts['safe']} benign"
    )
    head = (
        f"{'tool':<19} {'version':<10} {'detection':>16} {'+err':>6} {'malicious':>11} "
        f"{'FP (benign)':>13} {'benign err':>10} {'time s':>8}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for tool in REPORT_ROWS:
        if tool in unavailable:
            print(f"{tool:<19} {'-':<10} {'n/a: ' + unavailable[tool]}")
            continue
        s = summary.get(tool)
        if not s:
            continue
        det = f"{s['bad_flagged']}/{s['bad_total']} {100 * s['detection_rate']:5.1f}%"
        print(
            f"{tool:<19} {versions.get(tool, ''):<10} {det:>16} {100 * s['detection_rate_incl_errors']:5.1f}% "
            f"{s['malicious_flagged']:>4}/{s['malicious_total']:<6} "
            f"{s['false_positives']:>3}/{s['benign_total']:<3} {100 * s['fp_rate']:4.1f}% "
            f"{s['benign_errors']:>10} {s['seconds']:>8.1f}"
        )
    print("  detection = flagged bad / all bad; +err = also counting scan errors and timeouts as caught")
    if "modelaudit-critical" in summary:
        print("  modelaudit = its CLI's decision (WARNING or CRITICAL -> exit 1); modelaudit-critical = CRITICAL only")

    def line(tool: str, case: str) -> str:
        r = results[tool].get(case, {})
        got = r.get("verdict") or r.get("outcome", "missing")
        note = extra_corpus.NOTES.get(Path(case).name, "")
        note = f"  <{note}>" if note and case.startswith("extra/") else ""
        return f"    {case:<62} expected={cases[case][1]:<11} got={got:<9} {r.get('detail', '')[:110]}{note}"

    for tool in REPORT_ROWS:
        s = summary.get(tool)
        if not s:
            continue
        print(f"\n{tool}: {len(s['misses'])} missed bad case(s), {s['false_positives']} false positive(s)")
        for case in s["misses"]:
            print(line(tool, case))
        for case in s["false_positive_cases"]:
            print("  FP" + line(tool, case)[4:])
        for case in s["benign_error_cases"]:
            print("  ERR(benign)" + line(tool, case)[12:])
    mg = results.get("modelgate") or {}
    if mg:
        mism = [c for c in sorted(cases) if mg.get(c, {}).get("verdict") != cases[c][1]]
        print(f"\nModelgate exact-verdict mismatches (informational; any non-safe verdict blocks): {len(mism)}")
        for c in mism:
            print(line("modelgate", c))
        peers = [t for t in PEER_TOOLS if results.get(t)]  # modelaudit's CLI reading only
        if peers:
            bad = [c for c in cases if cases[c][1] in BAD]
            all_miss = [c for c in bad if all(results[t].get(c, {}).get("outcome") != "flagged" for t in peers)]
            caught = [c for c in all_miss if mg.get(c, {}).get("outcome") == "flagged"]
            print(
                f"Bad cases missed by every peer ({', '.join(peers)}): {len(all_miss)}; "
                f"caught by Modelgate: {len(caught)}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated subset of " + ",".join(ALL_TOOLS))
    ap.add_argument("--timeout", type=float, default=120.0, help="per-file timeout in seconds (every tool)")
    ap.add_argument("--peer-timeout", type=float, default=None, help="per-file timeout for peers (default: --timeout)")
    ap.add_argument(
        "--peer-budget",
        type=float,
        default=0.0,
        help="wall-clock budget per peer in seconds (0 = none); files not reached count as timeouts",
    )
    ap.add_argument("--journal", type=Path, default=None, help="append each peer answer here as a JSON line")
    ap.add_argument("--modelaudit-workers", type=int, default=4, help="parallel modelaudit workers (slowest peer)")
    ap.add_argument("--keep", action="store_true", help="keep the generated corpus directory")
    ap.add_argument(
        "--corpora", default=",".join(CORPORA), help="comma-separated subset of " + ",".join(CORPORA + EXTRA_CORPORA)
    )
    ap.add_argument("--out", type=Path, default=OUT / "detection.json")
    args = ap.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(ALL_TOOLS)
    if unknown:
        ap.error(f"unknown tools: {', '.join(sorted(unknown))}")

    root = Path(tempfile.mkdtemp(prefix="modelgate-bench-corpus-"))
    t_start = time.monotonic()
    try:
        print(f"[detection] building corpus in {root}", flush=True)
        cases, notes = build(root, tuple(c.strip() for c in args.corpora.split(",") if c.strip()))
        for n in notes:
            print(f"[detection] note: {n}")
        files = [p for p, _ in cases.values()]
        by_path = {p: c for c, (p, _) in cases.items()}
        results: dict[str, dict[str, dict]] = {}
        versions: dict[str, str] = {}
        unavailable: dict[str, str] = {}

        def peer_job(tool: str) -> None:
            workers = args.modelaudit_workers if tool == "modelaudit" else 1
            t0 = time.monotonic()
            version, answers, err = run_peer(
                tool,
                files,
                timeout=args.peer_timeout or args.timeout,
                workers=workers,
                progress=tool == "modelaudit",
                budget=args.peer_budget,
                journal=args.journal,
            )
            if err:
                unavailable[tool] = err
                print(f"[detection] {tool}: unavailable: {err}", flush=True)
                return
            versions[tool] = version
            results[tool] = {
                by_path[p]: {"outcome": a.outcome, "detail": a.detail.replace(f"{root}/", ""), "seconds": a.seconds}
                for p, a in answers.items()
            }
            if any(a.alt for a in answers.values()):
                versions[f"{tool}-critical"] = version
                results[f"{tool}-critical"] = {
                    by_path[p]: {
                        "outcome": a.alt or a.outcome,
                        "detail": a.detail.replace(f"{root}/", ""),
                        "seconds": a.seconds,
                    }
                    for p, a in answers.items()
                }
            print(f"[detection] {tool} {version}: {len(answers)} files in {time.monotonic() - t0:.0f}s", flush=True)

        threads = [threading.Thread(target=peer_job, args=(t,)) for t in tools if t in PEER_TOOLS]
        # Start the slowest peer first so the others overlap with it.
        threads.sort(key=lambda th: th._args[0] != "modelaudit")  # type: ignore[attr-defined]
        for th in threads:
            th.start()
        if "modelgate" in tools:
            t0 = time.monotonic()
            version, answers, err = run_modelgate(files, args.timeout)
            if err:
                unavailable["modelgate"] = err
                print(f"[detection] {err}", flush=True)
            else:
                versions["modelgate"] = version
                results["modelgate"] = {by_path[p]: r for p, r in answers.items()}
                print(f"[detection] modelgate: {len(answers)} files in {time.monotonic() - t0:.0f}s", flush=True)
        for th in threads:
            th.join()

        summary = summarize(cases, results)
        print_report(cases, results, summary, versions, unavailable)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "corpus": {c: {"expected": label} for c, (_, label) in sorted(cases.items())},
            "versions": versions,
            "unavailable": unavailable,
            "notes": notes,
            "summary": summary,
            "results": results,
            "seconds": time.monotonic() - t_start,
        }
        args.out.write_text(json.dumps(payload, indent=1, sort_keys=True))
        print(f"\n[detection] wrote {args.out} ({time.monotonic() - t_start:.0f}s)")
    finally:
        if args.keep:
            print(f"[detection] corpus kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
