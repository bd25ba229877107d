"""`manage.py scan PATH [PATH…] [--json]`: scan local files and folders without touching the database.

Contract (DESIGN.md): with `--json`, one JSON object per line per file
`{"path", "format", "verdict", "sha256", "findings": [{"rule", "category", "severity", "message", "evidence"}]}`.
Exit status 0 when every file is safe, 1 when any is suspicious/malicious/unscannable, 2 on a usage error.
Without `--json`: a table on stdout and a bytes-based progress bar on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import replace
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.files import collect_targets as collect
from scanning.scanners import base

VERDICT_ORDER = ("safe", "suspicious", "unscannable", "malicious")


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


class ProgressBar:
    """A small bytes-based progress bar on a text stream.

    On a terminal it is redrawn in place, and a ticker thread keeps it alive (spinner, time on the current
    file) while one big file is hashed and scanned; elsewhere only the final line is written.
    """

    SPINNER = "|/-\\"

    def __init__(self, stream: TextIO, total_bytes: int, total_files: int, *, width: int = 28) -> None:
        self.stream = stream
        self.total = max(total_bytes, 1)
        self.files = total_files
        self.width = width
        self.started = time.monotonic()
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._state = (0, 0, "")
        self._file_started = self.started
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def update(self, done_bytes: int, done_files: int, current: str = "") -> None:
        """A file starts (or the run moves on): remember where we are and redraw."""
        with self._lock:
            self._state = (done_bytes, done_files, current)
            self._file_started = time.monotonic()
        if self.tty and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="scan-progress", daemon=True)
            self._ticker.start()
        self.draw()

    def finish(self, done_bytes: int, done_files: int) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1)
        with self._lock:
            self._state = (done_bytes, done_files, "")
        self.draw(final=True)

    def _tick(self) -> None:
        while not self._stop.wait(0.25):
            self.draw()

    def draw(self, *, final: bool = False) -> None:
        if not self.tty and not final:
            return
        with self._lock:
            done_bytes, done_files, current = self._state
            now = time.monotonic()
            frac = min(1.0, done_bytes / self.total)
            filled = int(frac * self.width)
            elapsed = now - self.started
            rate = done_bytes / elapsed if elapsed > 0 else 0.0
            name = current if len(current) <= 40 else "…" + current[-39:]
            spin = ""
            if current and not final:
                spin = f"{self.SPINNER[int(now * 4) % 4]} {now - self._file_started:4.0f}s "
            line = (
                f"[{'#' * filled}{'.' * (self.width - filled)}] {frac * 100:3.0f}% "
                f"{human_size(done_bytes)}/{human_size(self.total)} {done_files}/{self.files} files "
                f"{human_size(rate)}/s {spin}{name}"
            )
            self.stream.write(("\r" + line.ljust(118)) if self.tty else line)
            if final:
                self.stream.write("\n")
            self.stream.flush()


class Command(BaseCommand):
    help = "Scan local model files or folders for unsafe content (no database access)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", metavar="PATH", help="Files or folders (scanned recursively).")
        parser.add_argument("--json", action="store_true", help="One JSON object per line per file.")
        parser.add_argument("--max-seconds", type=float, default=None, help="Time limit per file (default 120).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar on stderr.")

    def handle(self, *args: Any, **options: Any) -> None:
        paths: list[str] = options["paths"]
        if not paths:
            raise CommandError("give at least one file or folder to scan", returncode=2)
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise CommandError(f"no such file or folder: {', '.join(missing)}", returncode=2)
        limits = base.Limits()
        if options["max_seconds"] is not None:
            if options["max_seconds"] <= 0:
                raise CommandError("--max-seconds must be positive", returncode=2)
            limits = replace(limits, max_seconds=options["max_seconds"])

        from scanning.scanners import scan_file

        items = collect(paths)
        sizes = [item.size for item in items]
        as_json = options["json"]
        bar = None
        if not as_json and not options["no_progress"]:
            bar = ProgressBar(getattr(self.stderr, "_out", sys.stderr), sum(sizes), len(items))
        results: list[base.ScanResult] = []
        done = 0
        for i, (item, size) in enumerate(zip(items, sizes, strict=True)):
            path = item.shown
            if bar:
                bar.update(done, i, str(path))
            if item.real is None:
                result = _refused(str(path), item.refused)
            else:
                try:
                    result = scan_file(str(item.real), limits=limits)
                except OSError as exc:  # unreadable: fail closed for this file, keep going
                    result = _unreadable(str(path), size, exc)
            result.path = str(path)
            results.append(result)
            done += size
            if as_json:
                # ASCII JSON stays valid even for file names that are not UTF-8.
                self.stdout.write(json.dumps(result.as_contract()))
                self.stdout.flush()
        if bar:
            bar.finish(done, len(items))
        if not as_json:
            self._table(results)
        if any(r.verdict.label != "safe" for r in results):
            raise SystemExit(1)

    def _table(self, results: list[base.ScanResult]) -> None:
        counts = {v: 0 for v in VERDICT_ORDER}
        width = max((len(r.path) for r in results), default=4)
        self.stdout.write(f"{'VERDICT':<12} {'FORMAT':<18} {'SIZE':>9} {'FINDINGS':>8}  PATH")
        for r in results:
            label = r.verdict.label
            counts[label] = counts.get(label, 0) + 1
            style = self.style.SUCCESS if label == "safe" else self.style.ERROR
            self.stdout.write(
                f"{style(f'{label:<12}')} {r.format[:18]:<18} {human_size(r.size):>9} {len(r.findings):>8}  "
                f"{r.path:<{width}}"
            )
        flagged = [r for r in results if r.findings]
        for r in flagged:
            self.stdout.write("")
            self.stdout.write(self.style.MIGRATE_HEADING(r.path))
            for f in r.findings:
                c = f.as_contract()
                self.stdout.write(f"  [{c['severity']}] {c['category']} {c['rule']}: {c['message']}")
                if c["evidence"]:
                    self.stdout.write(f"      {c['evidence']}")
        summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        self.stdout.write("")
        self.stdout.write(f"{len(results)} file(s): {summary or 'nothing to scan'}")


def _refused(path: str, reason: str) -> base.ScanResult:
    finding = base.Finding(
        rule="file.refused",
        category=base.Category.UNSCANNABLE,
        severity=base.Severity.MEDIUM,
        verdict=base.Verdict.UNSCANNABLE,
        message="The file was not read: " + reason,
        evidence="",
    )
    return base.ScanResult(
        path=path, format="unknown", verdict=base.Verdict.UNSCANNABLE, sha256="", size=0, findings=[finding]
    )


def _unreadable(path: str, size: int, exc: OSError) -> base.ScanResult:
    finding = base.Finding(
        rule="file.unreadable",
        category=base.Category.UNSCANNABLE,
        severity=base.Severity.MEDIUM,
        verdict=base.Verdict.UNSCANNABLE,
        message="The file could not be read.",
        evidence=f"{type(exc).__name__}: {exc}",
    )
    return base.ScanResult(
        path=path, format="unknown", verdict=base.Verdict.UNSCANNABLE, sha256="", size=size, findings=[finding]
    )
