"""Scan one file with Modelgate's ``scan_file`` in a fresh process (throughput bench child).

Prints one JSON line: verdict, sha256, in-process scan seconds (scan + sha256, as the app pays it), import seconds,
bytes read and the process's own peak RSS. The parent also measures wall time and RSS high-water via ``wait4``.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> int:
    t0 = time.perf_counter()
    from scanning.scanners import scan_file

    t1 = time.perf_counter()
    c1 = time.process_time()
    res = scan_file(sys.argv[1])
    t2 = time.perf_counter()
    c2 = time.process_time()
    top = max(res.findings, key=lambda f: f.verdict, default=None)
    print(
        json.dumps(
            {
                "verdict": res.verdict.label,
                "format": res.format,
                "sha256": res.sha256,
                "bytes_read": res.bytes_read,
                "import_seconds": t1 - t0,
                "scan_seconds": t2 - t1,
                "scan_cpu": c2 - c1,  # all threads (the sha256 thread included)
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "top_finding": f"{top.rule}: {top.evidence or top.message}"[:200] if top else "",
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
