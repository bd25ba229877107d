"""A small Hub-shaped static file server with HTTP Range support (stdlib only, 127.0.0.1, threaded).

Why not ``tests/hubserver``: it keeps every repo file in memory as ``bytes`` (and hashes it on insert), which is
wrong for a multi-GB repo. This server serves files straight from a directory, lazily, with the one URL shape
``HubClient.range_reader`` uses: ``GET|HEAD /{org}/{name}/resolve/{revision}/{path}``. It answers ``Range: bytes=a-b``
(also ``a-`` and ``-n``) with 206 + ``Content-Range``, sets ``ETag``/``X-Linked-Etag`` (LFS sha256 when known),
``X-Linked-Size``, ``X-Repo-Commit`` and ``Accept-Ranges``, and counts the body bytes it sends per path (so the bench
can cross-check the client's own ``bytes_transferred``).
"""

from __future__ import annotations

import http.server
import os
import re
import ssl
import subprocess
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 1024 * 1024


class RangeServer:
    def __init__(
        self,
        repo_id: str,
        root: Path,
        commit: str,
        sha256: dict[str, str] | None = None,
        *,
        tls: tuple[Path, Path] | None = None,  # (certificate, key): serve HTTPS (peers that only speak HTTPS)
    ) -> None:
        self.repo_id = repo_id
        self.tls = tls
        self.root = root.resolve()
        self.commit = commit
        self.sha256 = sha256 or {}
        self.bytes_sent: dict[str, int] = {}
        self.requests = 0
        self._lock = threading.Lock()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"{'https' if self.tls else 'http'}://{name}:{port}"

    def url(self, path: str) -> str:
        return f"{self.endpoint}/{self.repo_id}/resolve/{self.commit}/{path}"

    def start(self) -> RangeServer:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body are separate writes: without TCP_NODELAY every small range response waits for
            # the client's delayed ACK (~40 ms), which no real Hub/CDN adds; the bench would measure that stall
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _fail(self, code: int, error_code: str) -> None:
                self.send_response(code)
                self.send_header("X-Error-Code", error_code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _serve(self, *, body: bool) -> None:
                with server._lock:
                    server.requests += 1
                path = unquote(urlsplit(self.path).path)
                prefix = f"/{server.repo_id}/resolve/"
                if not path.startswith(prefix):
                    return self._fail(404, "RepoNotFound")
                revision, _, rel = path[len(prefix) :].partition("/")
                if revision not in (server.commit, "main"):
                    return self._fail(404, "RevisionNotFound")
                target = (server.root / rel).resolve()
                if server.root not in target.parents or not target.is_file():
                    return self._fail(404, "EntryNotFound")
                size = target.stat().st_size
                start, end, status = 0, size - 1, 200
                rng = self.headers.get("Range")
                if rng:
                    m = _RANGE.match(rng.strip())
                    if not m or (not m.group(1) and not m.group(2)):
                        return self._fail(416, "RangeNotSatisfiable")
                    if m.group(1):
                        start = int(m.group(1))
                        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                    else:
                        start, end = max(0, size - int(m.group(2))), size - 1
                    if start >= size or start > end:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                    status = 206
                length = end - start + 1
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(length))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("X-Repo-Commit", server.commit)
                self.send_header("X-Linked-Size", str(size))
                sha = server.sha256.get(rel)
                if sha:
                    self.send_header("ETag", f'"{sha}"')
                    self.send_header("X-Linked-Etag", f'"{sha}"')
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                if not body:
                    return None
                sent = 0
                with open(target, "rb") as fh:
                    while sent < length:
                        data = os.pread(fh.fileno(), min(_CHUNK, length - sent), start + sent)
                        if not data:
                            break
                        try:
                            self.wfile.write(data)
                        except (BrokenPipeError, ConnectionResetError):
                            break
                        sent += len(data)
                with server._lock:
                    server.bytes_sent[rel] = server.bytes_sent.get(rel, 0) + sent
                return None

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="bench-range-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def self_signed(directory: Path) -> tuple[Path, Path] | None:
    """A throw-away certificate for 127.0.0.1 (``openssl req``); None when openssl is missing."""
    cert, key = directory / "bench-cert.pem", directory / "bench-key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError):
        return None
    return cert, key
