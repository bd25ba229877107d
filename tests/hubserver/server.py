"""Hub-compatible HTTP server serving generated repos (stdlib only, threaded, quiet).

What it implements, as the real Hub does and as ``huggingface_hub`` expects it:

* ``GET /api/models/{repo_id}`` and ``GET /api/models/{repo_id}/revision/{rev}`` (rev percent-encoded):
  model info JSON (``id, modelId, author, sha, lastModified, createdAt, private, gated, disabled,
  downloads, likes, library_name, pipeline_tag, tags, cardData, siblings``). ``?blobs=true`` adds
  ``size``, ``blobId`` and ``lfs: {sha256, size, pointerSize}`` to siblings; ``?expand=x`` returns
  only the listed properties (plus ``id``/``_id``).
* ``HEAD|GET /{repo_id}/resolve/{rev}/{path}``: ``X-Repo-Commit``, ``ETag`` (git blob id, or the
  LFS sha256), ``Content-Length``, ``Accept-Ranges``, ``Range`` → 206. LFS files answer with a 302
  to a second "CDN" listener (another port, so a different origin: ``Authorization`` is not
  forwarded) carrying ``X-Linked-Etag``/``X-Linked-Size``, like the real Hub.
* Errors: 404 ``X-Error-Code: RepoNotFound|RevisionNotFound|EntryNotFound``; private repos without a
  valid token → 401 ``RepoNotFound``; gated files without access → 401 (no token) / 403 (token)
  ``X-Error-Code: GatedRepo`` with ``X-Error-Message``; unknown token → 401 "Invalid credentials".
* Fault injection: ``fail_next``, ``truncate_next``, ``corrupt_next``, ``set_delay``; a per-path fault
  plan (``plan_faults``: the n-th matching request gets the n-th step — a status, a sleep, a truncated or
  corrupted body — and later ones a fixed step); and a ``requests`` log (method, path, headers, Range,
  status, body bytes sent, the planned fault applied).

Revisions: branch and tag names, full commit shas and unambiguous short shas (≥ 7 hex).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import http.server
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

TEST_TOKEN = "hf_modelgateTESTtoken0123456789abcdef"
LFS_EXTENSIONS = frozenset(
    {".bin", ".safetensors", ".pt", ".pth", ".ckpt", ".gguf", ".onnx", ".h5", ".msgpack", ".pkl", ".zip", ".npz"}
)
DEFAULT_LFS_THRESHOLD = 10 * 1024  # bytes; the real Hub uses .gitattributes rules, this is close enough
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_SHORT_SHA = re.compile(r"[0-9a-f]{7,40}")


def blob_id(data: bytes) -> str:
    """Git blob id: sha1 of ``b"blob <size>\\0" + content``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def deterministic_commit(repo_id: str, files: Mapping[str, bytes], parent: str = "") -> str:
    """A stable 40-hex commit id derived from the repo id, the parent and the file contents."""
    h = hashlib.sha1(f"{repo_id}\n{parent}\n".encode(), usedforsecurity=False)
    for path in sorted(files):
        h.update(f"{path}\0{blob_id(files[path])}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class StoredFile:
    path: str
    data: bytes
    lfs: bool
    blob_id: str  # for LFS files: the blob id of the *pointer file*, as on the Hub
    sha256: str

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id

    def pointer(self) -> bytes:
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n"
        ).encode()


@dataclass
class Commit:
    sha: str
    files: dict[str, StoredFile]
    date: datetime


@dataclass
class Repo:
    repo_id: str
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag name -> commit sha
    gated: str = ""  # "" | "auto" | "manual"
    private: bool = False
    disabled: bool = False
    downloads: int = 0
    likes: int = 0
    library_name: str | None = None
    pipeline_tag: str | None = None
    extra_tags: list[str] = field(default_factory=list)
    created_at: datetime = _EPOCH
    authorized: set[str] = field(default_factory=set)  # tokens granted access to a gated repo


class Headers(dict[str, str]):
    """Request headers with case-insensitive lookups (keys stored lower-case)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__((str(k).lower(), v) for k, v in dict(items).items())

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class RequestRecord:
    """One request seen by the server (hub or cdn listener)."""

    server: str  # "hub" | "cdn"
    method: str
    path: str  # decoded path, without the query string
    query: dict[str, list[str]]
    headers: Headers  # case-insensitive
    range: str | None
    status: int = 0
    bytes_sent: int = 0  # body bytes actually written
    fault: str = ""  # the planned fault step applied to this request ("" = none)

    @property
    def authorized(self) -> bool:
        return "authorization" in self.headers


FAULT_STEPS = "'ok', an HTTP status such as '500', 'sleep:SECONDS', 'truncate' or 'corrupt'"


def _check_step(step: str) -> str:
    ok = step in ("ok", "truncate", "corrupt") or (step.isdigit() and 400 <= int(step) <= 599)
    if step.startswith("sleep:"):
        with contextlib.suppress(ValueError):
            ok = float(step[6:]) >= 0
    if not ok:
        raise ValueError(f"unknown fault step {step!r}: use {FAULT_STEPS}")
    return step


@dataclass
class _Plan:
    """The fault steps of the requests matching ``glob``, in order; ``then`` once they are used up."""

    glob: str
    steps: list[str]
    then: str = "ok"

    def take(self) -> str:
        return self.steps.pop(0) if self.steps else self.then


@dataclass
class _Fault:
    glob: str
    times: int
    kind: str  # "fail" | "truncate" | "corrupt"
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None
    message: str = ""


class ApiError(Exception):
    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _front_matter(card: str) -> dict[str, Any]:
    if not card.startswith("---"):
        return {}
    parts = card.split("\n---", 1)
    if len(parts) != 2:
        return {}
    try:
        data = yaml.safe_load(parts[0][3:])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


class HubServer:
    """State plus two listeners: the Hub itself and a "CDN" for LFS blobs (different port = origin)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.valid_tokens: set[str] = {TEST_TOKEN}
        self.requests: list[RequestRecord] = []
        self._cdn_objects: dict[str, tuple[bytes, str]] = {}  # sha256 -> (bytes, md5 ETag), filled on first use
        self._repos: dict[str, Repo] = {}
        self._faults: list[_Fault] = []
        self._plans: list[_Plan] = []
        self._delay = 0.0
        self._delay_glob = "*"
        self._lock = threading.RLock()
        self._hub = _ThreadingServer((host, 0), _Handler, self, "hub")
        self._cdn = _ThreadingServer((host, 0), _Handler, self, "cdn")
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self._hub.server_address[1]}"

    @property
    def cdn_endpoint(self) -> str:
        return f"http://{self.host}:{self._cdn.server_address[1]}"

    def start(self) -> HubServer:
        for srv in (self._hub, self._cdn):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        for srv in (self._hub, self._cdn):
            srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_faults(self) -> None:
        """Drop pending injected faults and the delay; clear the request log."""
        with self._lock:
            self._faults.clear()
            self._plans.clear()
            self._delay = 0.0
            self._delay_glob = "*"
            self.requests.clear()

    # --- repos -----------------------------------------------------------------------------
    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        card: str | None = None,
        commit: str | None = None,
        gated: bool | str = False,
        private: bool = False,
        lfs_threshold: int = DEFAULT_LFS_THRESHOLD,
        downloads: int = 0,
        likes: int = 0,
        library_name: str | None = None,
        pipeline_tag: str | None = None,
        tags: list[str] | None = None,
        created_at: datetime | None = None,
    ) -> str:
        """Create (or replace) a repo with one commit on ``main``; return the commit sha.

        ``card`` is written as README.md. ``gated`` is False, True (= "auto"), "auto" or "manual".
        ``library_name``/``pipeline_tag`` default to the card's front matter.
        """
        meta = _front_matter(card) if card is not None else {}
        repo = Repo(
            repo_id=repo_id,
            gated="auto" if gated is True else (gated or ""),
            private=private,
            downloads=downloads,
            likes=likes,
            library_name=library_name
            or (meta.get("library_name") if isinstance(meta.get("library_name"), str) else None),
            pipeline_tag=pipeline_tag
            or (meta.get("pipeline_tag") if isinstance(meta.get("pipeline_tag"), str) else None),
            extra_tags=list(tags or []),
            created_at=created_at or _EPOCH,
        )
        with self._lock:
            self._repos[repo_id] = repo
        return self.add_commit(repo_id, files, card=card, commit=commit, lfs_threshold=lfs_threshold, parent=None)

    def add_commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes | None],
        *,
        card: str | None = None,
        commit: str | None = None,
        branch: str = "main",
        lfs_threshold: int = DEFAULT_LFS_THRESHOLD,
        parent: str | None = "",
    ) -> str:
        """Add a commit on ``branch`` on top of its current head; ``None`` values delete files.

        ``parent=None`` starts from an empty tree. Returns the new commit sha.
        """
        with self._lock:
            repo = self._repos[repo_id]
            if parent == "":
                parent = repo.refs.get(branch)
            base = dict(repo.commits[parent].files) if parent else {}
            contents = {p: f.data for p, f in base.items()}
            if card is not None:
                contents["README.md"] = card.encode()
            for path, data in files.items():
                if data is None:
                    contents.pop(path, None)
                else:
                    contents[path] = data
            sha = commit or deterministic_commit(repo_id, contents, parent or "")
            if not re.fullmatch(r"[0-9a-f]{40}", sha):
                raise ValueError(f"commit must be 40 lowercase hex: {sha!r}")
            stored = {p: self._store(p, d, lfs_threshold) for p, d in contents.items()}
            repo.commits[sha] = Commit(sha=sha, files=stored, date=_EPOCH + timedelta(days=len(repo.commits)))
            repo.refs[branch] = sha
            return sha

    def set_ref(self, repo_id: str, ref: str, commit: str) -> None:
        """Create or move a branch/tag (any name, e.g. "v1.0" or "refs/pr/1") to ``commit``."""
        with self._lock:
            repo = self._repos[repo_id]
            if commit not in repo.commits:
                raise KeyError(f"unknown commit {commit} in {repo_id}")
            repo.refs[ref] = commit

    def grant_access(self, repo_id: str, token: str = TEST_TOKEN) -> None:
        """Let ``token`` download files of a gated repo."""
        with self._lock:
            self._repos[repo_id].authorized.add(token)

    def remove_repo(self, repo_id: str) -> None:
        with self._lock:
            self._repos.pop(repo_id, None)

    def file_url(self, repo_id: str, revision: str, path: str) -> str:
        return f"{self.endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"

    @staticmethod
    def _store(path: str, data: bytes, lfs_threshold: int) -> StoredFile:
        ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
        lfs = len(data) >= lfs_threshold or ext in LFS_EXTENSIONS
        sha256 = hashlib.sha256(data).hexdigest()
        f = StoredFile(path=path, data=data, lfs=lfs, blob_id=blob_id(data), sha256=sha256)
        if lfs:
            f = StoredFile(path=path, data=data, lfs=True, blob_id=blob_id(f.pointer()), sha256=sha256)
        return f

    # --- faults ----------------------------------------------------------------------------
    def fail_next(
        self,
        path_glob: str,
        status: int,
        times: int = 1,
        *,
        headers: Mapping[str, str] | None = None,
        error_code: str | None = None,
        message: str = "",
        retry_after: int | None = None,
    ) -> None:
        """The next ``times`` requests whose path matches ``path_glob`` get ``status``.

        ``error_code`` becomes ``X-Error-Code`` (e.g. "GatedRepo"), ``message`` ``X-Error-Message``
        and the JSON body's ``error``; ``retry_after`` sets ``Retry-After`` (429).
        """
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["Retry-After"] = str(retry_after)
        with self._lock:
            self._faults.append(_Fault(path_glob, times, "fail", status, hdrs, error_code, message))

    def truncate_next(self, path_glob: str, times: int = 1) -> None:
        """Advertise the full Content-Length but send only half the body, then drop the connection."""
        with self._lock:
            self._faults.append(_Fault(path_glob, times, "truncate"))

    def corrupt_next(self, path_glob: str, times: int = 1) -> None:
        """Flip bytes in the body (same length), e.g. to trigger a hash mismatch."""
        with self._lock:
            self._faults.append(_Fault(path_glob, times, "corrupt"))

    def set_delay(self, seconds: float, path_glob: str = "*") -> None:
        """Sleep ``seconds`` before answering each request matching ``path_glob`` (0 disables)."""
        with self._lock:
            self._delay, self._delay_glob = seconds, path_glob

    def plan_faults(self, path_glob: str, *steps: str, then: str = "ok") -> None:
        """A fault plan for the requests whose path matches ``path_glob`` (hub or CDN listener).

        The n-th matching request gets ``steps[n-1]``, every later one ``then`` (so ``then="corrupt"``
        serves wrong bytes for good). Steps: ``"ok"``; an HTTP status (``"500"``: an error answer with
        ``X-Error-Message``); ``"sleep:SECONDS"`` (answer normally, that much later: longer than the
        client's timeout is a timeout); ``"truncate"`` (the full ``Content-Length``, half the body, then
        the connection is closed); ``"corrupt"`` (the same length with different bytes, so the
        sha256/ETag the metadata claims does not match). A body fault applies only to an answer with a
        body (a 302 to the CDN has none: plan the ``/cdn/*`` path for LFS files). The request log
        records the step applied (``RequestRecord.fault``). A plan added for the same glob replaces it.
        """
        plan = _Plan(path_glob, [_check_step(str(s)) for s in steps], _check_step(str(then)))
        with self._lock:
            self._plans = [p for p in self._plans if p.glob != path_glob] + [plan]

    def faults_applied(self, path_glob: str = "*") -> list[str]:
        """The planned fault steps applied so far to requests matching ``path_glob``, in order."""
        with self._lock:
            return [r.fault for r in self.requests if r.fault and fnmatch.fnmatchcase(r.path, path_glob)]

    def _plan_step(self, path: str) -> str:
        with self._lock:
            for plan in self._plans:
                if fnmatch.fnmatchcase(path, plan.glob):
                    return plan.take()
        return "ok"

    def _take_fault(self, path: str, kinds: tuple[str, ...]) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.times > 0 and fnmatch.fnmatchcase(path, fault.glob):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _delay_for(self, path: str) -> float:
        with self._lock:
            return self._delay if self._delay and fnmatch.fnmatchcase(path, self._delay_glob) else 0.0

    # --- request handling (called by the handler) -------------------------------------------
    def _repo(self, repo_id: str, token: str | None) -> Repo:
        with self._lock:
            repo = self._repos.get(repo_id)
        if repo is None or (repo.private and token not in self.valid_tokens):
            status = 401 if token is None and repo is not None else 404
            raise ApiError(status, "RepoNotFound", "Repository not found")
        if repo.disabled:
            raise ApiError(403, None, "Access to this resource is disabled.")
        return repo

    @staticmethod
    def _commit(repo: Repo, rev: str) -> Commit:
        sha = repo.refs.get(rev)
        if sha is None and _SHORT_SHA.fullmatch(rev):
            matches = [c for c in repo.commits if c.startswith(rev)]
            sha = matches[0] if len(matches) == 1 else None
        if sha is None:
            raise ApiError(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return repo.commits[sha]

    def model_info_json(self, repo: Repo, commit: Commit, query: Mapping[str, list[str]]) -> dict[str, Any]:
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for path in sorted(commit.files):
            f = commit.files[path]
            sib: dict[str, Any] = {"rfilename": path}
            if blobs:
                sib["size"] = len(f.data)
                sib["blobId"] = f.blob_id
                if f.lfs:
                    sib["lfs"] = {"sha256": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer())}
            siblings.append(sib)
        readme = commit.files.get("README.md")
        card = _front_matter(readme.data.decode("utf-8", "replace")) if readme else {}
        author = repo.repo_id.split("/")[0] if "/" in repo.repo_id else ""
        data: dict[str, Any] = {
            "_id": hashlib.md5(repo.repo_id.encode(), usedforsecurity=False).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": author,
            "sha": commit.sha,
            "lastModified": commit.date.isoformat().replace("+00:00", ".000Z"),
            "createdAt": repo.created_at.isoformat().replace("+00:00", ".000Z"),
            "private": repo.private,
            "gated": repo.gated or False,
            "disabled": repo.disabled,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "library_name": repo.library_name,
            "pipeline_tag": repo.pipeline_tag,
            "tags": self._computed_tags(repo, commit, card),
            "cardData": card or None,
            "siblings": siblings,
        }
        data = {k: v for k, v in data.items() if v is not None}
        expand = query.get("expand") or query.get("expand[]")
        if expand:
            keep = set(expand) | {"id", "_id"}
            data = {k: v for k, v in data.items() if k in keep}
        return data

    @staticmethod
    def tree_json(commit: Commit, under: str, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = f"{under}/" if under else ""
        entries: dict[str, dict[str, Any]] = {}
        for path in sorted(commit.files):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):  # the folders on the way
                folder = prefix + "/".join(parts[:depth])
                entries.setdefault(folder, {"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
                if not recursive:
                    break
            if len(parts) > 1 and not recursive:
                continue
            f = commit.files[path]
            entry: dict[str, Any] = {"type": "file", "oid": f.blob_id, "size": len(f.data), "path": path}
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer())}
            entries[path] = entry
        return list(entries.values())

    @staticmethod
    def _computed_tags(repo: Repo, commit: Commit, card: dict[str, Any]) -> list[str]:
        tags: list[str] = []
        if repo.library_name:
            tags.append(repo.library_name)
        names = list(commit.files)
        if any(n.endswith(".safetensors") for n in names):
            tags.append("safetensors")
        if any(n.endswith((".bin", ".pt", ".pth")) for n in names):
            tags.append("pytorch")
        if any(n.endswith(".gguf") for n in names):
            tags.append("gguf")
        tags += _as_list(card.get("tags"))
        if repo.pipeline_tag:
            tags.append(repo.pipeline_tag)
        tags += [f"dataset:{d}" for d in _as_list(card.get("datasets"))]
        relation = card.get("base_model_relation") if isinstance(card.get("base_model_relation"), str) else None
        bases = _as_list(card.get("base_model"))
        if bases and not relation:
            relation = "merge" if len(bases) > 1 else "finetune"
        for base in bases:
            tags += [f"base_model:{base}", f"base_model:{relation}:{base}"]
        tags += [f"license:{lic}" for lic in _as_list(card.get("license"))]
        tags += repo.extra_tags
        tags.append("region:us")
        return list(dict.fromkeys(tags))


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr: tuple[str, int], handler: type, hub: HubServer, role: str) -> None:
        super().__init__(addr, handler)
        self.hub = hub
        self.role = role

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: clients time out on purpose
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls
    server: _ThreadingServer
    server_version = "modelgate-test-hub/1.0"
    _body_fault = ""  # "truncate" | "corrupt": a planned fault of this request's body

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    # ---------------------------------------------------------------------------------------
    def _handle(self) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        raw_path = split.path
        path = unquote(raw_path)
        rec = RequestRecord(
            server=self.server.role,
            method=self.command,
            path=path,
            query=parse_qs(split.query),
            headers=Headers(self.headers.items()),
            range=self.headers.get("Range"),
        )
        with hub._lock:
            hub.requests.append(rec)
        self._rec = rec
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._body_fault = ""
        try:
            delay = hub._delay_for(path)
            if delay:
                time.sleep(delay)
            step = hub._plan_step(path)
            if step != "ok":
                rec.fault = step
            if step.startswith("sleep:"):
                time.sleep(float(step[6:]))
            elif step.isdigit():
                message = f"Injected {step}"
                self._send_json(int(step), {"error": message}, {"X-Error-Message": message})
                return
            elif step in ("truncate", "corrupt"):
                self._body_fault = step
            fault = hub._take_fault(path, ("fail",))
            if fault is not None:
                message = fault.message or f"Injected {fault.status}"
                headers = dict(fault.headers)
                if fault.error_code:
                    headers["X-Error-Code"] = fault.error_code
                headers["X-Error-Message"] = message
                self._send_json(fault.status, {"error": message}, headers)
                return
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else None
            if token is not None and token not in hub.valid_tokens and self.server.role == "hub":
                raise ApiError(401, None, "Invalid credentials in Authorization header")
            if self.server.role == "cdn":
                self._serve_cdn(path, rec)
            elif path.startswith("/api/models/"):
                self._serve_api(path[len("/api/models/") :], rec, token)
            elif "/resolve/" in path:
                self._serve_resolve(raw_path, rec, token)
            else:
                raise ApiError(404, None, "Not found")
        except ApiError as err:
            headers = {"X-Error-Message": err.message}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._send_json(err.status, {"error": err.message}, headers)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in the test server must not look like a dropped connection
            with contextlib.suppress(OSError):
                self._send_json(500, {"error": f"test hub server bug: {type(exc).__name__}: {exc}"}, {})

    def _serve_api(self, rest: str, rec: RequestRecord, token: str | None) -> None:
        hub = self.server.hub
        rev = "main"
        if "/tree/" in rest:  # list_repo_tree (snapshot_download): files and folders, recursive, one page
            rest, tail = rest.split("/tree/", 1)
            rev, _, under = tail.partition("/")
            commit = hub._commit(hub._repo(rest.strip("/"), token), rev)
            self._send_json(200, hub.tree_json(commit, under.strip("/"), rec.query), {})
            return
        if "/revision/" in rest:
            rest, rev = rest.split("/revision/", 1)
        repo = hub._repo(rest.strip("/"), token)
        commit = hub._commit(repo, rev)
        self._send_json(200, hub.model_info_json(repo, commit, rec.query), {})

    def _serve_resolve(self, raw_path: str, rec: RequestRecord, token: str | None) -> None:
        hub = self.server.hub
        repo_part, rest = raw_path.lstrip("/").split("/resolve/", 1)
        raw_rev, _, raw_file = rest.partition("/")
        repo = hub._repo(unquote(repo_part), token)
        commit = hub._commit(repo, unquote(raw_rev))
        if repo.gated and token not in repo.authorized:
            status = 401 if token is None else 403
            msg = (
                f"Access to model {repo.repo_id} is restricted. You must have access to it and be authenticated to "
                "access it. Please log in."
                if token is None
                else f"Access to model {repo.repo_id} is restricted and you are not in the authorized list. "
                f"Visit {hub.endpoint}/{repo.repo_id} to ask for access."
            )
            raise ApiError(status, "GatedRepo", msg)
        f = commit.files.get(unquote(raw_file))
        if f is None:
            raise ApiError(404, "EntryNotFound", "Entry not found")
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{f.etag}"', "Accept-Ranges": "bytes"}
        if f.lfs:
            headers.update(
                {
                    "X-Linked-Etag": f'"{f.sha256}"',
                    "X-Linked-Size": str(len(f.data)),
                    "Location": f"{hub.cdn_endpoint}/cdn/{f.sha256}?sig=test&name={quote(f.path)}",
                }
            )
            self._send_bytes(302, b"", headers, head=self.command == "HEAD")
            return
        self._send_file(f.data, headers, rec)

    def _serve_cdn(self, path: str, rec: RequestRecord) -> None:
        sha = path.rsplit("/", 1)[-1]
        hub = self.server.hub
        with hub._lock:
            # Content-addressed and immutable: look up and hash once (a scan sends thousands of range requests).
            found = hub._cdn_objects.get(sha)
            if found is None:
                data = next(
                    (
                        f.data
                        for repo in hub._repos.values()
                        for c in repo.commits.values()
                        for f in c.files.values()
                        if f.lfs and f.sha256 == sha
                    ),
                    None,
                )
                if data is not None:
                    found = hub._cdn_objects[sha] = (data, hashlib.md5(data, usedforsecurity=False).hexdigest())
        if found is None:
            raise ApiError(404, None, "NoSuchKey")
        self._send_file(found[0], {"ETag": f'"{found[1]}"'}, rec)

    # ---------------------------------------------------------------------------------------
    def _send_file(self, data: bytes, headers: dict[str, str], rec: RequestRecord) -> None:
        total = len(data)
        status = 200
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", rng)
            if not m or (not m.group(1) and not m.group(2)):
                self._send_bytes(416, b"", {"Content-Range": f"bytes */{total}"}, head=False)
                return
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
            else:
                start, end = max(0, total - int(m.group(2))), total - 1
            if start >= total or start > end:
                self._send_bytes(416, b"", {"Content-Range": f"bytes */{total}"}, head=False)
                return
            data = data[start : end + 1]
            headers = {**headers, "Content-Range": f"bytes {start}-{end}/{total}"}
            status = 206
        self._send_bytes(status, data, headers, head=self.command == "HEAD")

    def _send_json(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        body = json.dumps(payload).encode()
        self._send_bytes(status, body, {**headers, "Content-Type": "application/json"}, head=self.command == "HEAD")

    def _send_bytes(self, status: int, body: bytes, headers: dict[str, str], *, head: bool) -> None:
        hub = self.server.hub
        path = self._rec.path
        fault = hub._take_fault(path, ("truncate", "corrupt")) if body and not head and status < 300 else None
        if fault is None and self._body_fault and body and not head and status < 300:
            fault = _Fault(path, 1, self._body_fault)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if "Content-Type" not in headers:
            self.send_header("Content-Type", "application/octet-stream")
        if fault is not None and fault.kind == "truncate":
            self.send_header("Connection", "close")
        self.end_headers()
        self._rec.status = status
        if head:
            return
        if fault is not None and fault.kind == "corrupt":
            body = bytes(b ^ 0xFF for b in body[:16]) + body[16:]
        if fault is not None and fault.kind == "truncate":
            body = body[: len(body) // 2]
            self.close_connection = True
        # Counted before writing: the client may see the bytes before this thread resumes after write().
        self._rec.bytes_sent += len(body)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)
            self.wfile.flush()
