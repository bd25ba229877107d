"""``python -m bench.scan``: run the detection, throughput and remote benches, then print the headline figures.

Options are passed through in a simple form: ``--quick`` (0.25 GiB files, 1 repeat, skips modelaudit in the
detection bench) for a smoke run; ``--skip detection,throughput,remote``; ``--size-gb`` for the large files.
The large files are generated once into a temp dir shared by the throughput and remote benches and deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.scan import detection, remote, throughput
from bench.scan.peers import PEERS_PY, PEERS_VENV

OUT = Path(__file__).resolve().parent.parent / "out"


def headline() -> None:
    print("\n" + "=" * 100 + "\nHEADLINE FIGURES (Modelgate vs peers)\n" + "=" * 100)
    det = OUT / "detection.json"
    if det.exists():
        d = json.loads(det.read_text())
        print("Detection on the corpus (flagged bad / all bad; false positives / benign):")
        for tool in detection.REPORT_ROWS:
            s = d["summary"].get(tool)
            if s:
                print(
                    f"  {tool:<19} detection {100 * s['detection_rate']:5.1f}% ({s['bad_flagged']}/{s['bad_total']}),"
                    f" incl. errors {100 * s['detection_rate_incl_errors']:5.1f}%,"
                    f" malicious {s['malicious_flagged']}/{s['malicious_total']},"
                    f" FP {100 * s['fp_rate']:4.1f}% ({s['false_positives']}/{s['benign_total']})"
                )
            elif tool in d.get("unavailable", {}):
                print(f"  {tool:<19} unavailable: {d['unavailable'][tool]}")
    tp = OUT / "throughput.json"
    if tp.exists():
        t = json.loads(tp.read_text())
        print("Throughput (warm cache, best run) and peak RSS:")
        for kind, rec in t["results"].items():
            sha = rec["warm"]["sha256sum"]
            order = ["sha256sum", "openssl-sha256", "modelgate", *detection.PEER_TOOLS]
            for tool in sorted(rec["warm"], key=lambda t: order.index(t) if t in order else len(order)):
                r = rec["warm"][tool]
                secs = r.get("seconds") or float("nan")
                if tool not in ("sha256sum", "openssl-sha256", "modelgate"):
                    print(
                        f"  {kind:<12} {tool:<14} {secs:8.2f} s scan (reads pickle members only, no hash)"
                        f"  peak RSS {r.get('maxrss_kb', 0) / 1024:6.0f} MB  {r.get('verdict', '')}"
                    )
                    continue
                print(
                    f"  {kind:<12} {tool:<14} {rec['size'] / 1e6 / secs:8.0f} MB/s"
                    f"  ({100 * sha['seconds'] / secs:5.0f}% of sha256sum wall, "
                    f"{100 * sha['scan_cpu'] / (r.get('scan_cpu') or float('nan')):5.0f}% CPU)"
                    f"  peak RSS {r.get('maxrss_kb', 0) / 1024:6.0f} MB  {r.get('verdict', '')}"
                )
    rm = OUT / "remote.json"
    if rm.exists():
        r = json.loads(rm.read_text())
        print(f"Remote scan: {r['total_transferred']:,} of {r['repo_size']:,} bytes = {r['percent']:.4f}% of the repo")
        for f in r["files"]:
            print(
                f"  {f['path']:<24} {100 * f['bytes_transferred'] / max(1, f['size']):8.4f}% of the file  {f['verdict']}"
            )
        for name, p in r.get("peers", {}).items():
            print(f"  {name}: {p['bytes_transferred']:,} bytes ({p['file']})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip", default="")
    ap.add_argument("--size-gb", type=float, default=None)
    args = ap.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    size = str(args.size_gb or (0.25 if args.quick else 1.1))
    if not PEERS_PY.exists():
        print(f"[bench.scan] peers venv {PEERS_VENV} missing: run `bash bench/scan/setup.sh` (peers are skipped)")
    t0 = time.monotonic()
    big = Path(tempfile.mkdtemp(prefix="modelgate-bench-big-"))
    try:
        if "detection" not in skip:
            tools = "modelgate,picklescan,modelscan,fickling" if args.quick else ",".join(detection.ALL_TOOLS)
            detection.main(["--tools", tools])
        if "throughput" not in skip:
            throughput.main(["--size-gb", size, "--repeat", "1" if args.quick else "2", "--dir", str(big)])
        if "remote" not in skip:
            remote.main(["--size-gb", size, "--dir", str(big)])
    finally:
        shutil.rmtree(big, ignore_errors=True)
    headline()
    print(f"\n[bench.scan] total {time.monotonic() - t0:.0f}s; JSON in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
