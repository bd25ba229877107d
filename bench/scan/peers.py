"""Drive the peer scanners (picklescan, modelscan, fickling, modelaudit) from the app interpreter.

Each peer runs in ``bench/.venv-peers`` through ``peers_worker.py``: a long-lived worker per (tool, slot) answers
one JSON line per file, so import cost is paid once. A file that takes longer than ``timeout`` seconds kills the
worker (outcome ``timeout``) and a fresh one is started for the next file. Each worker runs in its own
process group and the whole group is killed (a peer's own child processes or thread pools do not outlive it).
An optional per-tool ``budget`` (seconds) bounds the whole run: files not reached by then are answered
``timeout`` ("budget exhausted"), so a peer that is merely slow on every file still yields a table.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
PEERS_VENV = BENCH / ".venv-peers"
PEERS_PY = PEERS_VENV / "bin" / "python"
WORKER = HERE / "peers_worker.py"
PEER_TOOLS = ("picklescan", "modelscan", "fickling", "modelaudit")


def peer_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(
        {
            "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "NO_ANALYTICS": "1",
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "NO_COLOR": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


@dataclass
class PeerAnswer:
    outcome: str  # flagged | clean | error | timeout
    detail: str
    seconds: float
    alt: str = ""  # a secondary reading of the same scan (modelaudit: CRITICAL-only), "" if none


class PeerWorker:
    """One worker process; ``scan`` is synchronous with a timeout."""

    def __init__(self, tool: str, start_timeout: float = 180.0) -> None:
        self.tool = tool
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.version = ""
        self._buf = b""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(PEERS_PY), str(WORKER), self.tool],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=peer_env(),
            cwd=str(HERE),
            start_new_session=True,  # own process group: a timeout kills the peer's children too
        )
        self._buf = b""
        line = self._readline(self.start_timeout)
        if line is None:
            self.stop()
            raise RuntimeError(f"{self.tool}: worker did not start within {self.start_timeout:g}s")
        hello = json.loads(line)
        if not hello.get("ready"):
            self.stop()
            raise RuntimeError(f"{self.tool}: {hello.get('error', 'unavailable')}")
        self.version = hello["version"]

    def _readline(self, timeout: float) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:  # worker died
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def scan(self, path: Path, timeout: float) -> PeerAnswer:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        t0 = time.monotonic()
        try:
            self.proc.stdin.write((json.dumps({"path": str(path)}) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.stop()
            return PeerAnswer("error", "worker died", 0.0)
        line = self._readline(timeout)
        dt = time.monotonic() - t0
        if line is None:
            died = self.proc.poll() is not None
            self.stop()
            if died:
                return PeerAnswer("error", "worker crashed on this file", dt)
            return PeerAnswer("timeout", f"no answer within {timeout:g}s", dt)
        ans = json.loads(line)
        return PeerAnswer(ans["outcome"], ans.get("detail", ""), dt, ans.get("alt", ""))

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
        self.proc = None


def peers_available() -> bool:
    return PEERS_PY.exists()


def run_peer(
    tool: str,
    files: list[Path],
    *,
    timeout: float,
    workers: int = 1,
    progress: bool = False,
    budget: float = 0.0,
    journal: Path | None = None,
) -> tuple[str, dict[Path, PeerAnswer], str]:
    """Scan ``files`` with ``tool``; return (version, answers, error). ``error`` is set if the peer is unusable.

    ``timeout`` bounds each file (the worker is killed and restarted); ``budget`` > 0 bounds the whole run.
    ``journal``: every answer is also appended there as a JSON line as soon as it is known (a long run that is
    interrupted still leaves its per-file answers).
    """
    t_end = time.monotonic() + budget if budget > 0 else float("inf")
    if not peers_available():
        return "", {}, f"peers venv missing ({PEERS_VENV}); run bench/scan/setup.sh"
    todo: queue.Queue[Path] = queue.Queue()
    for f in files:
        todo.put(f)
    answers: dict[Path, PeerAnswer] = {}
    errors: list[str] = []
    versions: list[str] = []
    lock = threading.Lock()

    def slot() -> None:
        worker = PeerWorker(tool)
        try:
            worker.start()
            versions.append(worker.version)
        except RuntimeError as exc:
            errors.append(str(exc))
            return
        try:
            while True:
                try:
                    f = todo.get_nowait()
                except queue.Empty:
                    return
                left = t_end - time.monotonic()
                if left <= 0:
                    ans = PeerAnswer("timeout", f"tool budget of {budget:g}s exhausted before this file", 0.0)
                    with lock:
                        answers[f] = ans
                    continue
                try:
                    ans = worker.scan(f, min(timeout, max(1.0, left)))
                except RuntimeError as exc:  # restart failed
                    ans = PeerAnswer("error", str(exc), 0.0)
                with lock:
                    answers[f] = ans
                    if journal is not None:
                        with journal.open("a") as fh:
                            fh.write(json.dumps({"tool": tool, "path": str(f), **ans.__dict__}) + "\n")
                    if progress and len(answers) % 50 == 0:
                        print(f"  [{tool}] {len(answers)}/{len(files)}", flush=True)
        finally:
            worker.stop()

    threads = [threading.Thread(target=slot, daemon=True) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if not answers and errors:
        return "", {}, errors[0]
    return (versions[0] if versions else ""), answers, ""
