"""The one adapter between Modelgate and the Hugging Face Hub (the only module importing huggingface_hub).

Everything the rest of the project needs from the Hub goes through :class:`HubClient`:

* ``resolve`` pins a branch/tag/short sha to a 40-hex commit;
* ``model_info`` returns a frozen :class:`HubModelInfo` at that commit, with per-file sizes, blob ids and
  LFS sha256 (``files_metadata=True``);
* ``card_info`` reads another repo's card metadata (license, license_name, license_link, base_model) and tags
  without its file list — enough to know what a base model that is not imported declares;
* ``read_text`` fetches a small text file (README.md) with a size bound and git-blob verification;
* ``download`` streams a file to ``settings.MODELGATE_DOWNLOAD_DIR`` verifying size and sha256 on the fly;
* ``range_reader`` gives scanners random access through HTTP Range requests with a small block cache.

Small files at a pinned commit are immutable, so their verified bytes are kept in one bounded, process-wide
LRU (:data:`SMALL_FILE_CACHE`, keyed by endpoint, credential fingerprint, repo, commit and path): during an
import the README, configs and license files are fetched once and reused by the card parser, the license
analysis (``read_text``) and the scanners (``range_reader``). No *metadata* is cached.

Every failure is raised as a :class:`HubError` subclass whose ``transient`` property tells Celery tasks
whether a retry may help. This module does **not** retry or sleep itself: retries are the caller's policy.

The token: taken from the constructor or ``settings.HF_TOKEN``; sent only to the Hub endpoint (redirects to
another origin — the CDN — drop ``Authorization``), never logged, never in ``repr`` and scrubbed from every
exception message. Upstream exceptions are not chained (``from None``) so tracebacks cannot leak it either.
An empty token means anonymous: the machine's saved ``huggingface-cli`` token is never picked up implicitly.

Downloads layout: ``<MODELGATE_DOWNLOAD_DIR>/<org>--<name>/<commit>/<path>`` (immutable per commit; written to
a temporary file and renamed only once verified). huggingface_hub's own cache is not used: its
downloader retries with sleeps and resumes silently, and cannot verify while streaming.
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import logging
import os
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub import __version__ as hf_version
from huggingface_hub import errors as hf_errors
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

log = logging.getLogger(__name__)

COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_LIBRARY = "modelgate"
_CHUNK = 1024 * 1024

__all__ = [
    "EntryNotFound",
    "GatedRepo",
    "HubCardInfo",
    "HubClient",
    "HubConnectionError",
    "HubError",
    "HubFile",
    "HubModelInfo",
    "HubRangeReader",
    "HubServerError",
    "HubTimeout",
    "IntegrityError",
    "RateLimited",
    "RepoNotFound",
    "RevisionNotFound",
    "clear_caches",
]


# --- data -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubFile:
    """One file of a repo at a commit. ``lfs_sha256`` is None for plain git (non-LFS) files."""

    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None


@dataclass(frozen=True)
class HubModelInfo:
    """Model metadata at one pinned commit (``commit`` is the 40-hex sha the data describes)."""

    repo_id: str
    commit: str
    author: str
    tags: list[str]
    pipeline_tag: str
    library_name: str
    gated: str  # "" | "auto" | "manual"
    private: bool
    downloads: int
    likes: int
    created_at: datetime | None
    last_modified: datetime | None
    card_data: dict[str, Any]
    files: list[HubFile] = field(default_factory=list)

    def file(self, path: str) -> HubFile | None:
        """The file at ``path``, or None."""
        return next((f for f in self.files if f.path == path), None)


@dataclass(frozen=True)
class HubCardInfo:
    """Another repo's card metadata at the commit ``revision`` pointed to (no file list)."""

    repo_id: str
    commit: str
    card_data: dict[str, Any]
    tags: list[str]

    @property
    def base_models(self) -> list[str]:
        value = self.card_data.get("base_model")
        items = value if isinstance(value, list) else [value] if value else []
        return [str(v) for v in items if isinstance(v, str) and v.strip()]


# --- errors -----------------------------------------------------------------------------------
class HubError(Exception):
    """Any failure talking to the Hub. ``str(err)`` is a human message without credentials."""

    _transient: ClassVar[bool] = False

    def __init__(self, message: str, repo_id: str = "", revision: str = "", *, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.repo_id = repo_id
        self.revision = revision
        self.status_code = status_code

    @property
    def transient(self) -> bool:
        """True when retrying later may succeed (rate limit, 5xx, timeout, connection problem)."""
        return self._transient

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, repo_id={self.repo_id!r}, revision={self.revision!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable for Celery result backends
        return (type(self), (self.message, self.repo_id, self.revision), self.__dict__)


class RepoNotFound(HubError):
    """The repo does not exist, or is private and the token has no access."""


class RevisionNotFound(HubError):
    """The branch, tag or commit does not exist in the repo."""


class EntryNotFound(HubError):
    """The file does not exist at that commit."""


class GatedRepo(HubError):
    """401/403: gated repo without granted access, or the token is not authorized."""


class RateLimited(HubError):
    """429 Too Many Requests. ``retry_after`` is the server's hint in seconds (or None)."""

    _transient = True

    def __init__(
        self,
        message: str,
        repo_id: str = "",
        revision: str = "",
        *,
        status_code: int | None = 429,
        retry_after: float | None = None,
    ):
        super().__init__(message, repo_id, revision, status_code=status_code)
        self.retry_after = retry_after


class HubServerError(HubError):
    """5xx from the Hub."""

    _transient = True


class HubTimeout(HubError):
    """No answer (connect or read) within the configured timeout."""

    _transient = True


class HubConnectionError(HubError):
    """The Hub could not be reached (DNS, refused, reset, offline mode)."""

    _transient = True


class IntegrityError(HubError):
    """Received bytes do not match the advertised size/sha256/blob id (including truncated bodies)."""


# --- helpers ----------------------------------------------------------------------------------
class _SmallFileCache:
    """Verified bytes of small files at pinned commits (immutable): a bounded, thread-safe LRU."""

    max_file = 2_000_000
    max_total = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: collections.OrderedDict[tuple[str, ...], bytes] = collections.OrderedDict()
        self._total = 0
        self.hits = 0

    def get(self, key: tuple[str, ...] | None) -> bytes | None:
        if key is None:
            return None
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return data

    def put(self, key: tuple[str, ...] | None, data: bytes) -> None:
        if key is None or len(data) > self.max_file:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._total -= len(old) if old is not None else 0
            self._items[key] = data
            self._total += len(data)
            while self._total > self.max_total:
                _, evicted = self._items.popitem(last=False)
                self._total -= len(evicted)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._total = 0
            self.hits = 0


SMALL_FILE_CACHE = _SmallFileCache()


def clear_caches(*, close_connections: bool = False) -> None:
    """Reset process-wide Hub state between tests or after a settings change.

    This module keeps no metadata cache (resolve/model_info always ask the Hub); it empties the small-file
    cache. ``close_connections`` also closes huggingface_hub's shared HTTP session (keep-alive connections);
    it is rebuilt on next use, which costs tens of milliseconds, so it is off by default.
    """
    SMALL_FILE_CACHE.clear()
    if close_connections:
        from huggingface_hub.utils import close_session

        close_session()


def _norm_etag(value: str | None) -> str:
    if not value:
        return ""
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower()


def _verify_blob(data: bytes | bytearray, etag: str, where: tuple[str, str, str]) -> None:
    """Check a whole file against the Hub's git blob id (sha1 of ``blob <n>\\0…``) or LFS sha256, if known."""
    if not etag or not (COMMIT_RE.fullmatch(etag) or _SHA256_RE.fullmatch(etag)):
        return
    actual = (
        hashlib.sha256(data).hexdigest()
        if _SHA256_RE.fullmatch(etag)
        else hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
    )
    if actual != etag:
        repo_id, commit, path = where
        raise IntegrityError(
            f"Content of {path} in {repo_id}@{commit[:12]} does not match its hash {etag}", repo_id, commit
        )


def _safe_relpath(path: str) -> PurePosixPath:
    """Reject repo paths that could escape the download directory."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or any(part in ("", ".", "..") for part in p.parts) or "\\" in path:
        raise HubError(f"Refusing unsafe repo path {path!r}")
    return p


def _retry_after(headers: Any) -> float | None:
    value = (headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    match = re.search(r"\bt\s*=\s*(\d+)", headers.get("RateLimit") or "")
    return float(match.group(1)) if match else None


class HubClient:
    """Read-only client of one Hub endpoint; cheap to construct, safe to share between threads."""

    def __init__(self, *, endpoint: str | None = None, token: str | None = None, timeout: float | None = None):
        if endpoint is None or token is None or timeout is None:
            from django.conf import settings  # lazy: the module works without Django when args are given

            endpoint = endpoint if endpoint is not None else settings.HF_ENDPOINT
            token = token if token is not None else settings.HF_TOKEN
            timeout = timeout if timeout is not None else settings.HF_TIMEOUT
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self.__token = token or ""
        self._api = HfApi(endpoint=self.endpoint, token=self.__token or False, library_name=_LIBRARY)

    def __repr__(self) -> str:
        return f"HubClient(endpoint={self.endpoint!r}, authenticated={bool(self.__token)})"

    # --- public API -------------------------------------------------------------------------
    def resolve(self, repo_id: str, revision: str = "main") -> str:
        """Pin ``revision`` (branch, tag, short or full sha) to the 40-hex commit it designates now."""
        data = self._call(
            lambda: self._api.model_info(repo_id, revision=revision, expand=["sha"], timeout=self.timeout),
            repo_id,
            revision,
        )
        return self._commit_of(data.sha, repo_id, revision)

    def model_info(self, repo_id: str, revision: str = "main") -> HubModelInfo:
        """Metadata and file list (sizes, blob ids, LFS sha256) at the commit ``revision`` points to."""
        info = self._call(
            lambda: self._api.model_info(repo_id, revision=revision, files_metadata=True, timeout=self.timeout),
            repo_id,
            revision,
        )
        commit = self._commit_of(info.sha, repo_id, revision)
        files = []
        for s in info.siblings or []:
            size = s.size if s.size is not None else (s.lfs.size if s.lfs else 0)
            files.append(
                HubFile(
                    path=s.rfilename,
                    size=int(size),
                    blob_id=s.blob_id or "",
                    lfs_sha256=s.lfs.sha256 if s.lfs else None,
                )
            )
        card = info.card_data.to_dict() if info.card_data is not None else {}
        gated = info.gated if isinstance(info.gated, str) else ("auto" if info.gated is True else "")
        author = info.author or (repo_id.split("/", 1)[0] if "/" in repo_id else "")
        return HubModelInfo(
            repo_id=info.id or repo_id,
            commit=commit,
            author=author,
            tags=list(info.tags or []),
            pipeline_tag=info.pipeline_tag or "",
            library_name=info.library_name or "",
            gated=gated,
            private=bool(info.private),
            downloads=int(info.downloads or 0),
            likes=int(info.likes or 0),
            created_at=info.created_at,
            last_modified=info.last_modified,
            card_data=card,
            files=files,
        )

    def card_info(self, repo_id: str, revision: str = "main") -> HubCardInfo:
        """Card metadata and tags of a repo (one small request: no file metadata)."""
        info = self._call(
            lambda: self._api.model_info(
                repo_id, revision=revision, expand=["cardData", "sha", "tags"], timeout=self.timeout
            ),
            repo_id,
            revision,
        )
        commit = self._commit_of(info.sha, repo_id, revision)
        card = info.card_data.to_dict() if info.card_data is not None else {}
        return HubCardInfo(repo_id=info.id or repo_id, commit=commit, card_data=card, tags=list(info.tags or []))

    def read_text(self, repo_id: str, commit: str, path: str, *, max_bytes: int = 2_000_000) -> str:
        """Decode (UTF-8, lossy) at most ``max_bytes`` of a file; raises EntryNotFound if it is missing.

        A file longer than ``max_bytes`` is truncated (a warning is logged). When the whole file was read
        from the Hub itself, its bytes are checked against the git blob id (``ETag``) or LFS sha256.
        """
        url = self._url(repo_id, commit, path)
        key = self._file_key(repo_id, commit, path)
        cached = SMALL_FILE_CACHE.get(key)
        if cached is not None:
            if len(cached) > max_bytes:
                log.warning("%s in %s@%s exceeds %d bytes; truncated", path, repo_id, commit[:12], max_bytes)
            return cached[:max_bytes].decode("utf-8", "replace")
        data = bytearray()
        where = (repo_id, commit, path)
        try:
            with get_session().stream(
                "GET", url, headers=self._headers({"Accept-Encoding": "identity"}), timeout=self.timeout
            ) as resp:
                self._raise_for_status(resp, *where)
                declared = resp.headers.get("Content-Length")
                try:
                    for chunk in resp.iter_bytes(_CHUNK):
                        data += chunk
                        if len(data) > max_bytes:
                            break
                except httpx2.RemoteProtocolError:
                    raise IntegrityError(
                        f"Truncated response for {path} in {repo_id}@{commit[:12]}: got {len(data)} bytes"
                        + (f" of {declared}" if declared else ""),
                        repo_id,
                        commit,
                    ) from None
                # Hub answer: ETag is the git blob id (or LFS sha256). Redirected (LFS via CDN): X-Linked-Etag.
                etag = (
                    _norm_etag(resp.headers.get("ETag"))
                    if not resp.history
                    else _norm_etag(resp.history[0].headers.get("X-Linked-Etag"))
                )
        except HubError:
            raise
        except Exception as exc:
            raise self._map(exc, *where) from None
        if len(data) > max_bytes:
            log.warning("%s in %s@%s exceeds %d bytes; truncated", path, repo_id, commit[:12], max_bytes)
            return bytes(data[:max_bytes]).decode("utf-8", "replace")
        _verify_blob(data, etag, where)
        SMALL_FILE_CACHE.put(key, bytes(data))
        return bytes(data).decode("utf-8", "replace")

    def download(
        self,
        repo_id: str,
        commit: str,
        path: str,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> Path:
        """Download one file (streamed, verified) into ``settings.MODELGATE_DOWNLOAD_DIR``; return its path.

        Verified against ``expected_size``/``expected_sha256`` when given, else against what the Hub advertises
        (``X-Linked-Size``/``X-Linked-Etag`` for LFS files, ``Content-Length`` and the git blob id otherwise).
        On any mismatch nothing is left on disk and :class:`IntegrityError` is raised.
        """
        rel = _safe_relpath(path)
        if not COMMIT_RE.fullmatch(commit):
            raise HubError(f"download() needs a 40-hex commit, got {commit!r}", repo_id, commit)
        self._url(repo_id, commit, path)  # validates repo_id (no "..", "--", slashes) before it names a folder
        from django.conf import settings

        root = Path(settings.MODELGATE_DOWNLOAD_DIR)
        dest = root / repo_id.replace("/", "--") / commit / rel
        expected_sha256 = expected_sha256.lower() if expected_sha256 else None
        if dest.is_file() and self._existing_ok(dest, expected_sha256, expected_size):
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        key = self._file_key(repo_id, commit, path)
        cached = SMALL_FILE_CACHE.get(key)
        if cached is not None and (
            (expected_size is not None and len(cached) != expected_size)
            or (expected_sha256 and hashlib.sha256(cached).hexdigest() != expected_sha256)
        ):
            cached = None  # verified bytes, but not what the caller expects: ask the Hub
        try:
            if cached is not None:
                tmp.write_bytes(cached)
            else:
                self._stream_to(tmp, repo_id, commit, path, expected_sha256, expected_size)
                if tmp.stat().st_size <= SMALL_FILE_CACHE.max_file:
                    SMALL_FILE_CACHE.put(key, tmp.read_bytes())  # verified while streaming
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def range_reader(self, repo_id: str, commit: str, path: str, size: int) -> HubRangeReader:
        """A scanner :class:`~scanning.scanners.base.Reader` over the file, through HTTP Range requests."""
        return HubRangeReader(self, repo_id, commit, path, size)

    # --- internals --------------------------------------------------------------------------
    def _file_key(self, repo_id: str, commit: str, path: str) -> tuple[str, ...] | None:
        """Cache key of a file at a pinned commit (None otherwise); the credential enters only as a hash."""
        if not COMMIT_RE.fullmatch(commit):
            return None
        who = hashlib.sha256(self.__token.encode()).hexdigest()[:16] if self.__token else ""
        return (self.endpoint, who, repo_id, commit, path)

    def _url(self, repo_id: str, revision: str, path: str) -> str:
        try:
            return hf_hub_url(repo_id, path, revision=revision, endpoint=self.endpoint)
        except (hf_errors.HFValidationError, ValueError) as exc:
            raise HubError(self._scrub(f"Invalid repo id or path: {exc}"), repo_id, revision) from None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return build_hf_headers(
            token=self.__token or False, library_name=_LIBRARY, library_version=hf_version, headers=extra
        )

    def _scrub(self, text: str) -> str:
        if self.__token:
            text = text.replace(self.__token, "***")
        return re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)

    @staticmethod
    def _commit_of(sha: str | None, repo_id: str, revision: str) -> str:
        if not sha or not COMMIT_RE.fullmatch(sha):
            raise HubError(f"The Hub returned no valid commit for {repo_id}@{revision}: {sha!r}", repo_id, revision)
        return sha

    def _call(self, fn: Any, repo_id: str, revision: str) -> Any:
        try:
            return fn()
        except Exception as exc:
            raise self._map(exc, repo_id, revision) from None

    def _raise_for_status(self, resp: httpx2.Response, repo_id: str, revision: str, path: str = "") -> None:
        try:
            hf_raise_for_status(resp)
        except Exception as exc:
            raise self._map(exc, repo_id, revision, path) from None

    def _map(self, exc: BaseException, repo_id: str, revision: str, path: str = "") -> HubError:
        """Translate any huggingface_hub/httpx2 exception into our HubError hierarchy (token scrubbed)."""
        if isinstance(exc, HubError):
            return exc
        where = f"{repo_id}@{revision}" + (f" file {path}" if path else "")
        detail = self._scrub(str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)
        status = None
        if isinstance(exc, hf_errors.HfHubHTTPError) and exc.response is not None:
            status = exc.response.status_code
            server_msg = self._scrub(exc.server_message or "")
            detail = server_msg or detail
        kw = {"status_code": status}
        if isinstance(exc, hf_errors.GatedRepoError):
            return GatedRepo(
                f"Access to gated repo {repo_id} is not granted for this token ({detail})", repo_id, revision, **kw
            )
        if isinstance(exc, hf_errors.RevisionNotFoundError):
            return RevisionNotFound(f"Revision {revision!r} not found in {repo_id}", repo_id, revision, **kw)
        if isinstance(exc, hf_errors.EntryNotFoundError):
            return EntryNotFound(f"File {path!r} not found in {repo_id}@{revision}", repo_id, revision, **kw)
        if isinstance(exc, hf_errors.RepositoryNotFoundError):
            return RepoNotFound(
                f"Repository {repo_id} not found (or private and not accessible with this token)",
                repo_id,
                revision,
                **kw,
            )
        if isinstance(exc, hf_errors.DisabledRepoError):
            return RepoNotFound(f"Repository {repo_id} is disabled on the Hub", repo_id, revision, **kw)
        if isinstance(exc, hf_errors.HfHubHTTPError) and status is not None:
            if status in (401, 403):
                return GatedRepo(f"Not authorized to access {where} (HTTP {status}): {detail}", repo_id, revision, **kw)
            if status == 429:
                after = _retry_after(exc.response.headers)
                hint = f"; retry after {after:g}s" if after is not None else ""
                return RateLimited(
                    f"Rate limited by the Hub on {where}{hint}", repo_id, revision, status_code=429, retry_after=after
                )
            if status == 404:
                cls = EntryNotFound if path else RepoNotFound
                return cls(f"Not found: {where} ({detail})", repo_id, revision, **kw)
            if status == 408:
                return HubTimeout(f"The Hub timed out on {where} (HTTP 408)", repo_id, revision, **kw)
            if status >= 500:
                return HubServerError(f"Hub server error {status} on {where}: {detail}", repo_id, revision, **kw)
            return HubError(f"Hub request failed on {where} (HTTP {status}): {detail}", repo_id, revision, **kw)
        if isinstance(exc, httpx2.TimeoutException):
            return HubTimeout(f"No answer from the Hub within {self.timeout:g}s on {where}", repo_id, revision)
        if isinstance(exc, hf_errors.OfflineModeIsEnabled):
            return HubConnectionError(
                f"Hub offline mode is enabled (HF_HUB_OFFLINE); cannot reach {where}", repo_id, revision
            )
        if isinstance(exc, httpx2.TransportError):
            return HubConnectionError(
                f"Cannot reach the Hub at {self.endpoint} for {where}: {detail}", repo_id, revision
            )
        if isinstance(exc, hf_errors.HFValidationError):
            return HubError(f"Invalid repo id or revision {where}: {detail}", repo_id, revision)
        if isinstance(exc, (ValueError, KeyError, TypeError)):
            return HubError(f"Unexpected answer from the Hub for {where}: {detail}", repo_id, revision)
        return HubError(f"Hub request failed on {where}: {type(exc).__name__}: {detail}", repo_id, revision)

    @staticmethod
    def _existing_ok(dest: Path, expected_sha256: str | None, expected_size: int | None) -> bool:
        if expected_size is not None and dest.stat().st_size != expected_size:
            return False
        if expected_sha256 is None:
            return True
        h = hashlib.sha256()
        with dest.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        return h.hexdigest() == expected_sha256

    def _stream_to(
        self,
        tmp: Path,
        repo_id: str,
        commit: str,
        path: str,
        expected_sha256: str | None,
        expected_size: int | None,
    ) -> None:
        url = self._url(repo_id, commit, path)
        sha256 = hashlib.sha256()
        received = 0
        where = (repo_id, commit, path)
        try:
            with get_session().stream(
                "GET", url, headers=self._headers({"Accept-Encoding": "identity"}), timeout=self.timeout
            ) as resp:
                self._raise_for_status(resp, *where)
                hub_resp = resp.history[0] if resp.history else resp
                linked_size = hub_resp.headers.get("X-Linked-Size")
                linked_sha = _norm_etag(hub_resp.headers.get("X-Linked-Etag"))
                git_blob = _norm_etag(resp.headers.get("ETag")) if not resp.history else ""
                encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
                declared = None if encoded else resp.headers.get("Content-Length")  # compressed length otherwise
                size = expected_size
                if size is None and linked_size and linked_size.isdigit():
                    size = int(linked_size)
                if size is None and declared and declared.isdigit():
                    size = int(declared)
                want_sha = expected_sha256 or (linked_sha if _SHA256_RE.fullmatch(linked_sha) else None)
                blob = (
                    hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
                    if size is not None and not want_sha and COMMIT_RE.fullmatch(git_blob)
                    else None
                )
                with tmp.open("wb") as fh:
                    try:
                        for chunk in resp.iter_bytes(_CHUNK):
                            received += len(chunk)
                            if size is not None and received > size:
                                raise IntegrityError(
                                    f"{path} in {repo_id}@{commit[:12]} is larger than the advertised {size} bytes",
                                    repo_id,
                                    commit,
                                )
                            sha256.update(chunk)
                            if blob is not None:
                                blob.update(chunk)
                            fh.write(chunk)
                    except httpx2.RemoteProtocolError:
                        raise IntegrityError(
                            f"Truncated download of {path} in {repo_id}@{commit[:12]}: got {received} bytes"
                            + (f" of {size}" if size is not None else ""),
                            repo_id,
                            commit,
                        ) from None
        except HubError:
            raise
        except Exception as exc:
            raise self._map(exc, *where) from None
        if size is not None and received != size:
            raise IntegrityError(
                f"Size mismatch for {path} in {repo_id}@{commit[:12]}: expected {size} bytes, got {received}",
                repo_id,
                commit,
            )
        if want_sha and sha256.hexdigest() != want_sha:
            raise IntegrityError(
                f"sha256 mismatch for {path} in {repo_id}@{commit[:12]}: expected {want_sha}, got {sha256.hexdigest()}",
                repo_id,
                commit,
            )
        if blob is not None and blob.hexdigest() != git_blob:
            raise IntegrityError(
                f"Git blob id mismatch for {path} in {repo_id}@{commit[:12]}: "
                f"expected {git_blob}, got {blob.hexdigest()}",
                repo_id,
                commit,
            )
        log.info(
            "downloaded %s from %s@%s (%d bytes, sha256 %s)", path, repo_id, commit[:12], received, sha256.hexdigest()
        )

    # Used by HubRangeReader (kept here so the token never leaves this class).
    def _range_get(self, url: str, start: int, end: int, *, authenticated: bool) -> httpx2.Response:
        headers = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
        if authenticated:
            headers = self._headers(headers)
        return get_session().send(
            get_session().build_request("GET", url, headers=headers, timeout=self.timeout), stream=True
        )


class HubRangeReader:
    """Random access to a Hub file through HTTP Range requests, with an LRU cache of fixed-size blocks.

    Implements the scanner ``Reader`` protocol (``size``, ``read_at``). Reads are rounded to ``block_size``
    blocks; contiguous missing blocks are fetched with one request. After the first request, a redirect
    target (the CDN URL of an LFS file) is reused directly — without credentials — and dropped again if it
    stops working. ``bytes_transferred`` counts body bytes received; ``requests`` counts HTTP requests.

    ``prefetch(spans)`` takes the scanner's hint of many small, scattered reads (the local headers of a zip
    whose central directory is known): they are fetched right-sized — spans closer than ``coalesce_gap`` share
    one request — and kept as extents that later ``read_at`` calls are served from, instead of one 64 KiB
    block per member.
    """

    coalesce_gap: ClassVar[int] = 2048  # fetching up to this many unneeded bytes beats another round trip
    max_extent_bytes: ClassVar[int] = 8 * 1024 * 1024  # prefetched bytes kept at most (then: blocks again)
    prefetch_workers: ClassVar[int] = 8  # concurrent range requests while prefetching
    whole_file_bytes: ClassVar[int] = 256 * 1024  # files up to this size: one verified fetch, shared cache

    def __init__(
        self,
        client: HubClient,
        repo_id: str,
        commit: str,
        path: str,
        size: int,
        *,
        block_size: int = 64 * 1024,
        cache_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        if size < 0 or block_size <= 0:
            raise ValueError("size must be >= 0 and block_size > 0")
        self._client = client
        self.repo_id, self.commit, self.path = repo_id, commit, path
        self._size = size
        self._block = block_size
        self._max_blocks = max(2, cache_bytes // block_size)
        self._cache: collections.OrderedDict[int, bytes] = collections.OrderedDict()
        self._url = client._url(repo_id, commit, path)
        self._direct_url: str | None = None
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._extents: dict[int, bytes] = {}  # start -> bytes fetched by prefetch()
        self._extent_starts: list[int] = []  # sorted
        self._extent_bytes = 0
        self._whole: bytes | None = None
        self._etag = ""
        self.bytes_transferred = 0
        self.requests = 0

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes at ``offset`` (short only at end of file)."""
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        end = min(offset + length, self._size)
        if offset >= end:
            return b""
        first, last = offset // self._block, (end - 1) // self._block
        with self._lock:
            if self._size <= self.whole_file_bytes:
                return self._whole_file()[offset:end]
            hit = self._from_extents(offset, end)
            if hit is not None:
                return hit
            blocks: dict[int, bytes] = {}
            missing: list[int] = []
            for i in range(first, last + 1):
                cached = self._cache.get(i)
                if cached is None:
                    missing.append(i)
                else:
                    self._cache.move_to_end(i)
                    blocks[i] = cached
            for run_start, run_end in self._runs(missing):
                blocks.update(self._fetch_blocks(run_start, run_end))
            data = b"".join(blocks[i] for i in range(first, last + 1))
        base = first * self._block
        return data[offset - base : end - base]

    def _whole_file(self) -> bytes:
        """A small file (README, config, tokenizer_config, a .py): read once, verified, shared by the import."""
        if self._whole is None:
            key = self._client._file_key(self.repo_id, self.commit, self.path)
            data = SMALL_FILE_CACHE.get(key)
            if data is None or len(data) != self._size:
                data = self._fetch(0, self._size - 1)
                _verify_blob(data, self._etag, (self.repo_id, self.commit, self.path))
                SMALL_FILE_CACHE.put(key, data)
            self._whole = data
        return self._whole

    def prefetch(self, spans: list[tuple[int, int]]) -> None:
        """Fetch many small ``(offset, length)`` spans with right-sized requests (see the class docstring)."""
        wanted = sorted((max(0, o), min(o + n, self._size)) for o, n in spans if n > 0 and o < self._size)
        merged: list[list[int]] = []
        for start, end in wanted:
            if merged and start <= merged[-1][1] + self.coalesce_gap:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        with self._lock:
            todo: list[tuple[int, int]] = []
            budget = self.max_extent_bytes - self._extent_bytes
            for start, end in merged:
                if end - start > budget:
                    break  # bounded memory: the remaining reads go through blocks
                cached = all(i in self._cache for i in range(start // self._block, (end - 1) // self._block + 1))
                if not cached and self._from_extents(start, end) is None:
                    todo.append((start, end))
                    budget -= end - start
            if not todo:
                return
            # The first request settles the CDN redirect; the rest go out a few at a time (latency-bound).
            fetched = [(todo[0][0], self._fetch(todo[0][0], todo[0][1] - 1))]
            if len(todo) > 1:
                with ThreadPoolExecutor(max_workers=self.prefetch_workers, thread_name_prefix="hub-prefetch") as pool:
                    datas = pool.map(lambda span: self._fetch(span[0], span[1] - 1), todo[1:])
                    fetched += zip((a for a, _ in todo[1:]), datas, strict=True)
            for start, data in fetched:
                bisect.insort(self._extent_starts, start)
                self._extents[start] = data
                self._extent_bytes += len(data)

    def _from_extents(self, offset: int, end: int) -> bytes | None:
        i = bisect.bisect_right(self._extent_starts, offset) - 1
        if i < 0:
            return None
        start = self._extent_starts[i]
        data = self._extents[start]
        if end <= start + len(data):
            return data[offset - start : end - start]
        return None

    @staticmethod
    def _runs(indices: list[int]) -> list[tuple[int, int]]:
        runs: list[tuple[int, int]] = []
        for i in indices:
            if runs and runs[-1][1] == i - 1:
                runs[-1] = (runs[-1][0], i)
            else:
                runs.append((i, i))
        return runs

    def _fetch_blocks(self, first: int, last: int) -> dict[int, bytes]:
        start = first * self._block
        end = min((last + 1) * self._block, self._size) - 1
        data = self._fetch(start, end)
        out = {}
        for i in range(first, last + 1):
            chunk = data[(i - first) * self._block : (i - first + 1) * self._block]
            out[i] = chunk
            self._cache[i] = chunk
            self._cache.move_to_end(i)
        while len(self._cache) > self._max_blocks:
            self._cache.popitem(last=False)
        return out

    def _fetch(self, start: int, end: int) -> bytes:
        if self._direct_url is not None:
            try:
                return self._fetch_from(self._direct_url, start, end, authenticated=False)
            except HubError as err:
                if err.transient or isinstance(err, IntegrityError):
                    raise
                self._direct_url = None  # expired signed URL or similar: go back through the Hub
        return self._fetch_from(self._url, start, end, authenticated=True)

    def _fetch_from(self, url: str, start: int, end: int, *, authenticated: bool) -> bytes:
        c = self._client
        where = (self.repo_id, self.commit, self.path)
        want = end - start + 1
        buf = bytearray()
        try:
            with self._count_lock:
                self.requests += 1
            resp = c._range_get(url, start, end, authenticated=authenticated)
            try:
                with self._count_lock:
                    self.requests += len(resp.history)
                c._raise_for_status(resp, *where)
                if resp.history and urlsplit(str(resp.url)).netloc != urlsplit(self._url).netloc:
                    self._direct_url = str(resp.url)
                # like read_text: the git blob id (ETag) or, through the CDN redirect, the LFS sha256
                self._etag = _norm_etag(
                    resp.history[0].headers.get("X-Linked-Etag") if resp.history else resp.headers.get("ETag")
                )
                skip = 0
                if resp.status_code == 206:
                    m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
                    if not m or int(m.group(1)) != start:
                        raise IntegrityError(
                            f"Unexpected Content-Range {resp.headers.get('Content-Range')!r} for bytes {start}-{end} "
                            f"of {self.path} in {self.repo_id}",
                            self.repo_id,
                            self.commit,
                        )
                    if m.group(3) != "*" and int(m.group(3)) != self._size:
                        raise IntegrityError(
                            f"{self.path} in {self.repo_id}@{self.commit[:12]} is {m.group(3)} bytes, "
                            f"expected {self._size}",
                            self.repo_id,
                            self.commit,
                        )
                else:  # 200: the server ignored Range; read only what we need
                    skip = start
                try:
                    for chunk in resp.iter_bytes(_CHUNK):
                        with self._count_lock:
                            self.bytes_transferred += len(chunk)
                        if skip:
                            drop = min(skip, len(chunk))
                            chunk, skip = chunk[drop:], skip - drop
                        buf += chunk
                        if len(buf) >= want:
                            break
                except httpx2.RemoteProtocolError:
                    raise IntegrityError(
                        f"Truncated range response for {self.path} in {self.repo_id}@{self.commit[:12]}: "
                        f"got {len(buf)} of {want} bytes at offset {start}",
                        self.repo_id,
                        self.commit,
                    ) from None
            finally:
                resp.close()
        except HubError:
            raise
        except Exception as exc:
            raise c._map(exc, *where) from None
        if len(buf) < want:
            raise IntegrityError(
                f"Short range response for {self.path} in {self.repo_id}@{self.commit[:12]}: "
                f"got {len(buf)} of {want} bytes at offset {start}",
                self.repo_id,
                self.commit,
            )
        return bytes(buf[:want])
