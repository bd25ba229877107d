"""inventory.hub against the local Hub server, through the real huggingface_hub client (never mocked).

No database: only the pytest-django ``settings`` fixture (via ``hub_env``). Every repo id is unique per test
because the server lives for the whole session.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import pickle
import socket
import traceback
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from inventory import hub as hubmod
from inventory.hub import (
    EntryNotFound,
    GatedRepo,
    HubClient,
    HubConnectionError,
    HubError,
    HubRangeReader,
    HubServerError,
    HubTimeout,
    IntegrityError,
    RateLimited,
    RepoNotFound,
    RevisionNotFound,
)
from scanning.scanners.base import Reader
from tests.hubserver import TEST_TOKEN, blob_id
from tests.hubserver.repos import (
    gated_repo,
    llama_finetune_repo,
    malicious_pickle_repo,
    safetensors_bytes,
    tiny_bert_repo,
)


def _rid(prefix: str = "t") -> str:
    return f"modelgate-test/{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(hub_env) -> HubClient:
    return HubClient()  # endpoint/token/timeout from settings set by hub_env


@pytest.fixture
def bert(hub_env):
    repo = tiny_bert_repo(_rid("bert"))
    commit = repo.add_to(hub_env)
    return repo, commit


# --- model info ---------------------------------------------------------------------------------
def test_model_info_metadata_sizes_hashes_and_card(client, bert, hub_env):
    repo, commit = bert
    info = client.model_info(repo.repo_id)
    assert info.repo_id == repo.repo_id
    assert info.commit == commit
    assert info.author == "modelgate-test"
    assert info.pipeline_tag == "fill-mask"
    assert info.library_name == "transformers"
    assert info.gated == ""
    assert info.private is False
    assert (info.downloads, info.likes) == (1234, 5)
    assert info.created_at is not None and info.last_modified is not None
    assert info.card_data["license"] == "apache-2.0"
    assert info.card_data["base_model_relation"] == "merge"
    assert "license:apache-2.0" in info.tags and "dataset:bookcorpus" in info.tags
    assert "base_model:merge:google-bert/bert-base-uncased" in info.tags
    by_path = {f.path: f for f in info.files}
    assert set(by_path) == {"README.md", "config.json", "model.safetensors", "tokenizer.json"}
    st = by_path["model.safetensors"]
    assert st.size == len(repo.files["model.safetensors"])
    assert st.lfs_sha256 == hashlib.sha256(repo.files["model.safetensors"]).hexdigest()
    cfg = by_path["config.json"]
    assert cfg.lfs_sha256 is None
    assert cfg.blob_id == blob_id(repo.files["config.json"])
    assert cfg.size == len(repo.files["config.json"])
    assert info.file("config.json") == cfg
    api_calls = [r for r in hub_env.requests if r.path.startswith("/api/models/")]
    assert api_calls[-1].query.get("blobs") == ["true"]
    assert api_calls[-1].headers.get("Authorization") == f"Bearer {TEST_TOKEN}"


def test_model_info_other_builders(client, hub_env):
    llama = llama_finetune_repo(_rid("llama"))
    llama.add_to(hub_env)
    info = client.model_info(llama.repo_id)
    assert info.card_data["base_model"] == "meta-llama/Llama-2-7b-hf"
    assert info.card_data["license"] == "llama2"
    assert client.read_text(llama.repo_id, info.commit, "LICENSE").startswith("LLAMA 2 COMMUNITY LICENSE AGREEMENT")
    evil = malicious_pickle_repo(_rid("evil"))
    evil.add_to(hub_env)
    evil_info = client.model_info(evil.repo_id)
    assert evil_info.file("pytorch_model.bin").lfs_sha256 is not None
    assert "pytorch" in evil_info.tags


def test_gated_flag_and_private_repo(client, hub_env):
    manual = gated_repo(_rid("gated"))
    manual.add_to(hub_env)
    assert client.model_info(manual.repo_id).gated == "manual"
    auto = gated_repo(_rid("gated-auto"), gated="auto")
    auto.add_to(hub_env)
    assert client.model_info(auto.repo_id).gated == "auto"
    private = _rid("private")
    hub_env.add_repo(private, {"config.json": b"{}"}, private=True)
    assert client.model_info(private).private is True
    anonymous = HubClient(endpoint=hub_env.endpoint, token="", timeout=5)
    with pytest.raises(RepoNotFound):
        anonymous.model_info(private)
    assert all("Authorization" not in r.headers for r in hub_env.requests[-1:])


# --- revisions ----------------------------------------------------------------------------------
def test_resolve_branch_tag_short_sha_and_pr_ref(client, hub_env):
    rid = _rid("revs")
    first = hub_env.add_repo(rid, {"config.json": b'{"v": 1}'}, card="---\nlicense: mit\n---\n")
    second = hub_env.add_commit(rid, {"config.json": b'{"v": 2}', "extra.txt": b"x"})
    assert first != second
    hub_env.set_ref(rid, "v1.0", first)
    hub_env.set_ref(rid, "refs/pr/1", first)
    assert client.resolve(rid) == second
    assert client.resolve(rid, "main") == second
    assert client.resolve(rid, "v1.0") == first
    assert client.resolve(rid, "refs/pr/1") == first
    assert client.resolve(rid, first[:7]) == first
    assert client.resolve(rid, first) == first
    old = client.model_info(rid, "v1.0")
    assert old.commit == first
    assert {f.path for f in old.files} == {"README.md", "config.json"}
    assert client.read_text(rid, first, "config.json") == '{"v": 1}'
    assert client.read_text(rid, second, "config.json") == '{"v": 2}'


def test_explicit_commit_is_deterministic(hub_env, client):
    rid = _rid("pinned")
    sha = "ab" * 20
    assert hub_env.add_repo(rid, {"a.txt": b"a"}, commit=sha) == sha
    assert client.resolve(rid) == sha


# --- read_text ----------------------------------------------------------------------------------
def test_read_text_readme_and_missing_file(client, bert):
    repo, commit = bert
    assert client.read_text(repo.repo_id, commit, "README.md") == repo.card
    with pytest.raises(EntryNotFound) as exc:
        client.read_text(repo.repo_id, commit, "nope.md")
    assert exc.value.repo_id == repo.repo_id
    assert exc.value.transient is False


def test_read_text_is_bounded(client, hub_env):
    rid = _rid("big-readme")
    commit = hub_env.add_repo(rid, {}, card="# big\n" + "x" * 50_000)
    text = client.read_text(rid, commit, "README.md", max_bytes=1000)
    assert len(text) == 1000
    assert hub_env.requests[-1].bytes_sent <= 50_006


def test_read_text_detects_corruption_and_truncation(client, bert, hub_env):
    repo, commit = bert
    hub_env.corrupt_next("*/README.md")
    with pytest.raises(IntegrityError):
        client.read_text(repo.repo_id, commit, "README.md")
    hub_env.truncate_next("*/README.md")
    with pytest.raises(IntegrityError, match="Truncated"):
        client.read_text(repo.repo_id, commit, "README.md")
    assert client.read_text(repo.repo_id, commit, "README.md") == repo.card  # next one is fine
    lfs_text = _rid("lfs-text")
    lcommit = hub_env.add_repo(lfs_text, {"notes.txt": b"hello " * 10}, lfs_threshold=10)
    assert client.read_text(lfs_text, lcommit, "notes.txt") == "hello " * 10  # via the CDN, sha256-checked
    hub_env.requests.clear()
    assert client.read_text(lfs_text, lcommit, "notes.txt") == "hello " * 10  # verified bytes, from the cache
    assert hub_env.requests == []
    hubmod.clear_caches()
    hub_env.corrupt_next("/cdn/*")
    with pytest.raises(IntegrityError, match="does not match"):
        client.read_text(lfs_text, lcommit, "notes.txt")


# --- download -----------------------------------------------------------------------------------
def test_download_lfs_via_cdn_verified_and_token_not_forwarded(client, bert, hub_env, settings):
    repo, commit = bert
    info = client.model_info(repo.repo_id, commit)
    st = info.file("model.safetensors")
    hub_env.requests.clear()
    path = client.download(repo.repo_id, commit, st.path, expected_sha256=st.lfs_sha256, expected_size=st.size)
    assert path.read_bytes() == repo.files["model.safetensors"]
    assert path.is_relative_to(settings.MODELGATE_DOWNLOAD_DIR)
    assert commit in path.parts
    hub_reqs = [r for r in hub_env.requests if r.server == "hub"]
    cdn_reqs = [r for r in hub_env.requests if r.server == "cdn"]
    assert hub_reqs and all(r.authorized for r in hub_reqs)
    assert cdn_reqs and not any(r.authorized for r in cdn_reqs)
    # Already there and verified: no new request.
    hub_env.requests.clear()
    assert client.download(repo.repo_id, commit, st.path, expected_sha256=st.lfs_sha256) == path
    assert hub_env.requests == []


def test_download_without_expectations_uses_advertised_hashes(client, bert, hub_env):
    repo, commit = bert
    cfg = client.download(repo.repo_id, commit, "config.json")  # git blob id from ETag
    assert cfg.read_bytes() == repo.files["config.json"]
    st = client.download(repo.repo_id, commit, "model.safetensors")  # X-Linked-Etag/Size
    assert st.read_bytes() == repo.files["model.safetensors"]


def test_download_wrong_expected_hash_or_size_leaves_nothing(client, bert, settings):
    repo, commit = bert
    with pytest.raises(IntegrityError, match="sha256 mismatch") as exc:
        client.download(repo.repo_id, commit, "model.safetensors", expected_sha256="0" * 64)
    assert exc.value.transient is False
    with pytest.raises(IntegrityError, match=r"larger than|Size mismatch"):
        client.download(repo.repo_id, commit, "config.json", expected_size=3)
    leftovers = [p for p in settings.MODELGATE_DOWNLOAD_DIR.rglob("*") if p.is_file()]
    assert leftovers == []


@pytest.mark.parametrize("fault", ["corrupt_next", "truncate_next"])
@pytest.mark.parametrize(("path", "glob"), [("model.safetensors", "/cdn/*"), ("config.json", "*/config.json")])
def test_download_corrupt_or_truncated_body(client, bert, hub_env, settings, fault, path, glob):
    repo, commit = bert
    getattr(hub_env, fault)(glob)
    with pytest.raises(IntegrityError):
        client.download(repo.repo_id, commit, path)
    assert not [p for p in settings.MODELGATE_DOWNLOAD_DIR.rglob("*") if p.is_file()]
    assert client.download(repo.repo_id, commit, path).read_bytes() == repo.files[path]


def test_download_rejects_unsafe_paths_and_missing_files(client, bert, settings):
    repo, commit = bert
    for bad in ("../../etc/passwd", "/abs", "a/../../b", ""):
        with pytest.raises(HubError):
            client.download(repo.repo_id, commit, bad)
    for bad_repo in ("..", "../..", "a/../b", "a/b/c"):
        with pytest.raises(HubError):
            client.download(bad_repo, commit, "config.json")
    assert not (settings.MODELGATE_DOWNLOAD_DIR.parent / commit).exists()
    with pytest.raises(HubError, match="40-hex"):
        client.download(repo.repo_id, "main", "config.json")
    with pytest.raises(EntryNotFound):
        client.download(repo.repo_id, commit, "missing.bin")


# --- range reads --------------------------------------------------------------------------------
def _big_repo(hub_env, size: int = 4 * 1024 * 1024) -> tuple[str, str, bytes]:
    header = safetensors_bytes({"w": ("U8", [size])})
    data = header[:-size] + (bytes(range(256)) * (size // 256 + 1))[:size]
    rid = _rid("big")
    commit = hub_env.add_repo(rid, {"model.safetensors": data})
    return rid, commit, data


def test_range_reader_small_reads_on_big_file(client, hub_env):
    rid, commit, data = _big_repo(hub_env)
    reader = client.range_reader(rid, commit, "model.safetensors", len(data))
    assert isinstance(reader, Reader)
    assert reader.size == len(data)
    hub_env.requests.clear()
    n = int.from_bytes(reader.read_at(0, 8), "little")
    assert reader.read_at(8, n) == data[8 : 8 + n]
    for off in range(0, 4096, 16):  # many tiny reads inside the first block: no new request
        assert reader.read_at(off, 16) == data[off : off + 16]
    tail = reader.read_at(len(data) - 100, 1000)  # short read at EOF
    assert tail == data[-100:]
    assert reader.read_at(len(data), 10) == b""
    assert reader.read_at(70_000, 200_000) == data[70_000:270_000]  # spans blocks
    assert reader.bytes_transferred < 600 * 1024  # a few 64 KiB blocks, not 4 MiB
    assert reader.requests <= 6
    assert next(r.range for r in hub_env.requests if r.server == "cdn") == "bytes=0-65535"
    # After the first redirect the CDN URL is reused directly (one Hub hit only), without credentials.
    assert len([r for r in hub_env.requests if r.server == "hub"]) == 1
    assert not any(r.authorized for r in hub_env.requests if r.server == "cdn")
    assert sum(r.bytes_sent for r in hub_env.requests) == reader.bytes_transferred


def test_range_reader_cache_is_bounded_and_refetches(client, hub_env):
    rid, commit, data = _big_repo(hub_env, 1024 * 1024)
    reader = HubRangeReader(client, rid, commit, "model.safetensors", len(data), block_size=4096, cache_bytes=16384)
    for off in range(0, 64 * 1024, 4096):
        assert reader.read_at(off, 10) == data[off : off + 10]
    before = reader.requests
    assert reader.read_at(0, 10) == data[:10]  # evicted long ago
    assert reader.requests == before + 1
    assert reader.read_at(0, 10) == data[:10]
    assert reader.requests == before + 1


def test_range_reader_non_lfs_and_expired_cdn_url(client, bert, hub_env):
    repo, commit = bert
    cfg = repo.files["config.json"]
    reader = client.range_reader(repo.repo_id, commit, "config.json", len(cfg))
    assert reader.read_at(2, 20) == cfg[2:22]
    assert reader.requests == 1
    st = repo.files["model.safetensors"]
    lfs = HubRangeReader(client, repo.repo_id, commit, "model.safetensors", len(st), block_size=64)
    assert lfs.read_at(0, 8) == st[:8]
    hub_env.fail_next("/cdn/*", 403, message="Request has expired")
    assert lfs.read_at(200, 8) == st[200:208]  # falls back through the Hub for a fresh URL


def test_range_reader_errors(client, bert, hub_env):
    repo, commit = bert
    st = repo.files["model.safetensors"]
    reader = client.range_reader(repo.repo_id, commit, "model.safetensors", len(st))
    hub_env.truncate_next("/cdn/*")
    with pytest.raises(IntegrityError):
        reader.read_at(0, 10)
    wrong = client.range_reader(repo.repo_id, commit, "model.safetensors", len(st) + 5)
    with pytest.raises(IntegrityError, match="bytes, expected"):
        wrong.read_at(0, 10)
    missing = client.range_reader(repo.repo_id, commit, "nope.bin", 100)
    with pytest.raises(EntryNotFound):
        missing.read_at(0, 10)
    hub_env.fail_next("*/resolve/*", 503)
    with pytest.raises(HubServerError):
        client.range_reader(repo.repo_id, commit, "model.safetensors", len(st)).read_at(0, 1)
    with pytest.raises(ValueError):
        reader.read_at(-1, 1)


# --- error mapping ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "kwargs", "expected", "transient"),
    [
        (404, {"error_code": "RepoNotFound", "message": "Repository not found"}, RepoNotFound, False),
        (404, {"error_code": "RevisionNotFound", "message": "Invalid rev id"}, RevisionNotFound, False),
        (401, {"error_code": "GatedRepo", "message": "Access restricted"}, GatedRepo, False),
        (403, {"error_code": "GatedRepo", "message": "Not in the authorized list"}, GatedRepo, False),
        (403, {"message": "Forbidden"}, GatedRepo, False),
        (401, {"message": "Unauthorized"}, GatedRepo, False),
        (429, {"retry_after": 7}, RateLimited, True),
        (500, {}, HubServerError, True),
        (502, {}, HubServerError, True),
        (503, {"message": "Service Unavailable"}, HubServerError, True),
        (400, {"message": "Bad request"}, HubError, False),
    ],
)
@pytest.mark.parametrize("call", ["model_info", "resolve", "read_text", "download"])
def test_http_errors_are_mapped(client, bert, hub_env, status, kwargs, expected, transient, call):
    repo, commit = bert
    glob = "/api/models/*" if call in ("model_info", "resolve") else "*/resolve/*"
    hub_env.fail_next(glob, status, **kwargs)
    with pytest.raises(HubError) as exc:
        if call == "model_info":
            client.model_info(repo.repo_id)
        elif call == "resolve":
            client.resolve(repo.repo_id, "main")
        elif call == "read_text":
            client.read_text(repo.repo_id, commit, "README.md")
        else:
            client.download(repo.repo_id, commit, "config.json")
    err = exc.value
    assert type(err) is expected
    assert err.transient is transient
    assert err.repo_id == repo.repo_id
    assert repo.repo_id in str(err)
    if expected is RateLimited:
        assert err.retry_after == 7
    assert len([r for r in hub_env.requests if r.status == status]) == 1  # no hidden retries


def test_real_not_found_and_gated_answers(client, bert, hub_env):
    repo, _ = bert
    with pytest.raises(RepoNotFound):
        client.model_info(_rid("missing"))
    with pytest.raises(RevisionNotFound) as exc:
        client.model_info(repo.repo_id, "does-not-exist")
    assert exc.value.revision == "does-not-exist"
    with pytest.raises(RevisionNotFound):
        client.read_text(repo.repo_id, "0" * 40, "README.md")
    gated = gated_repo(_rid("gated"))
    gcommit = gated.add_to(hub_env)
    with pytest.raises(GatedRepo) as exc:  # token without access: 403
        client.read_text(gated.repo_id, gcommit, "README.md")
    assert exc.value.status_code == 403
    anonymous = HubClient(endpoint=hub_env.endpoint, token="", timeout=5)
    with pytest.raises(GatedRepo) as exc:  # no token: 401
        anonymous.download(gated.repo_id, gcommit, "config.json")
    assert exc.value.status_code == 401
    hub_env.grant_access(gated.repo_id)
    assert client.read_text(gated.repo_id, gcommit, "README.md") == gated.card


def test_invalid_token_is_unauthorized(bert, hub_env):
    repo, _ = bert
    bad = HubClient(endpoint=hub_env.endpoint, token="hf_wrong_token_value", timeout=5)
    with pytest.raises(GatedRepo) as exc:
        bad.model_info(repo.repo_id)
    assert "hf_wrong_token_value" not in str(exc.value)


def test_slow_responses_time_out(bert, hub_env):
    repo, commit = bert
    fast = HubClient(endpoint=hub_env.endpoint, token=TEST_TOKEN, timeout=0.2)
    hub_env.set_delay(0.6)
    for call in (
        lambda: fast.model_info(repo.repo_id),
        lambda: fast.read_text(repo.repo_id, commit, "README.md"),
        lambda: fast.range_reader(repo.repo_id, commit, "config.json", 10).read_at(0, 5),
        lambda: fast.download(repo.repo_id, commit, "config.json"),
    ):
        with pytest.raises(HubTimeout) as exc:
            call()
        assert exc.value.transient is True
    hub_env.set_delay(0)
    assert fast.resolve(repo.repo_id) == commit


def test_connection_refused(hub_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = HubClient(endpoint=f"http://127.0.0.1:{port}", token=TEST_TOKEN, timeout=2)
    with pytest.raises(HubConnectionError) as exc:
        dead.model_info("org/x")
    assert exc.value.transient is True
    with pytest.raises(HubConnectionError):
        dead.range_reader("org/x", "a" * 40, "f.bin", 10).read_at(0, 1)


def test_invalid_repo_id_is_a_hub_error(client):
    with pytest.raises(HubError) as exc:
        client.model_info("not a/valid//repo id")
    assert exc.value.transient is False


# --- secrecy ------------------------------------------------------------------------------------
def test_token_never_in_messages_tracebacks_or_repr(client, bert, hub_env):
    repo, commit = bert
    assert TEST_TOKEN not in repr(client)
    assert TEST_TOKEN not in str(vars(client).get("endpoint"))
    leaks = [
        ("/api/models/*", 500, {"message": f"boom Authorization: Bearer {TEST_TOKEN}"}),
        ("/api/models/*", 403, {"message": f"token {TEST_TOKEN} lacks access"}),
        ("*/resolve/*", 429, {"message": f"slow down {TEST_TOKEN}", "retry_after": 1}),
        ("*/resolve/*", 404, {"error_code": "EntryNotFound", "message": TEST_TOKEN}),
    ]
    for glob, status, kwargs in leaks:
        hub_env.fail_next(glob, status, **kwargs)
        with pytest.raises(HubError) as exc:
            if glob.startswith("/api"):
                client.model_info(repo.repo_id)
            else:
                client.read_text(repo.repo_id, commit, "README.md")
        err = exc.value
        rendered = "".join(traceback.format_exception(err))
        for text in (str(err), repr(err), rendered, str(err.args)):
            assert TEST_TOKEN not in text
        assert err.__cause__ is None


# --- misc ---------------------------------------------------------------------------------------
def test_errors_pickle_for_celery():
    err = RateLimited("slow down", "org/x", "main", retry_after=3.0)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is RateLimited
    assert (back.message, back.repo_id, back.revision, back.retry_after, back.transient) == (
        "slow down",
        "org/x",
        "main",
        3.0,
        True,
    )
    assert pickle.loads(pickle.dumps(EntryNotFound("gone", "org/x", "c" * 40))).revision == "c" * 40


def test_transient_flags():
    assert {cls.__name__ for cls in HubError.__subclasses__() if cls("m").transient} == {
        "RateLimited",
        "HubServerError",
        "HubTimeout",
        "HubConnectionError",
    }
    assert HubError("m").transient is False


def test_explicit_arguments_override_settings(hub_env, settings):
    settings.HF_ENDPOINT = "http://127.0.0.1:9"  # would be refused
    c = HubClient(endpoint=hub_env.endpoint + "/", token=TEST_TOKEN, timeout=3)
    assert c.endpoint == hub_env.endpoint and c.timeout == 3
    rid = _rid("explicit")
    hub_env.add_repo(rid, {"a.txt": b"a"})
    assert len(c.resolve(rid)) == 40
    hubmod.clear_caches(close_connections=True)  # closing the shared session is harmless
    assert len(c.resolve(rid)) == 40


# --- the test server speaks the Hub's shapes ----------------------------------------------------
def _raw(hub_env, method: str, path: str, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection(urlsplit(hub_env.endpoint).netloc, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_server_resolve_headers_match_the_hub(hub_env):
    repo = tiny_bert_repo(_rid("shape"))
    commit = repo.add_to(hub_env)
    auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
    status, headers, body = _raw(hub_env, "HEAD", f"/{repo.repo_id}/resolve/main/config.json", auth)
    assert status == 200 and body == b""
    assert headers["X-Repo-Commit"] == commit
    assert headers["ETag"] == f'"{blob_id(repo.files["config.json"])}"'
    assert headers["Content-Length"] == str(len(repo.files["config.json"]))
    status, headers, _ = _raw(hub_env, "HEAD", f"/{repo.repo_id}/resolve/{commit[:7]}/model.safetensors", auth)
    sha = hashlib.sha256(repo.files["model.safetensors"]).hexdigest()
    assert status == 302
    assert headers["X-Linked-Etag"] == f'"{sha}"' and headers["ETag"] == f'"{sha}"'
    assert headers["X-Linked-Size"] == str(len(repo.files["model.safetensors"]))
    assert headers["Location"].startswith(hub_env.cdn_endpoint)
    status, headers, body = _raw(
        hub_env, "GET", f"/{repo.repo_id}/resolve/main/config.json", {**auth, "Range": "bytes=2-5"}
    )
    assert status == 206 and body == repo.files["config.json"][2:6]
    assert headers["Content-Range"] == f"bytes 2-5/{len(repo.files['config.json'])}"
    for path, code in [
        (f"/{repo.repo_id}/resolve/nope/config.json", "RevisionNotFound"),
        (f"/{repo.repo_id}/resolve/main/nope.json", "EntryNotFound"),
        ("/nobody/nothing/resolve/main/config.json", "RepoNotFound"),
        ("/api/models/nobody/nothing", "RepoNotFound"),
    ]:
        status, headers, _ = _raw(hub_env, "GET", path, auth)
        assert (status, headers["X-Error-Code"]) == (404, code)
    gated = gated_repo(_rid("shape-gated"))
    gated.add_to(hub_env)
    status, headers, _ = _raw(hub_env, "GET", f"/{gated.repo_id}/resolve/main/config.json")
    assert (status, headers["X-Error-Code"]) == (401, "GatedRepo")
    assert "restricted" in headers["X-Error-Message"]


def test_server_commit_deletes_files_and_expand(hub_env):
    rid = _rid("del")
    hub_env.add_repo(rid, {"a.txt": b"a", "b.txt": b"b"})
    second = hub_env.add_commit(rid, {"b.txt": None})
    status, _, body = _raw(hub_env, "GET", f"/api/models/{rid}/revision/main?expand=sha&expand=gated")
    data = json.loads(body)
    assert status == 200 and data == {"_id": data["_id"], "id": rid, "sha": second, "gated": False}
    status, _, body = _raw(hub_env, "GET", f"/api/models/{rid}")
    assert [s["rfilename"] for s in json.loads(body)["siblings"]] == ["a.txt"]


def test_module_works_without_django_settings_when_arguments_are_given(hub_env, monkeypatch):
    import ast

    import django.conf

    tree = ast.parse(Path(hubmod.__file__).read_text(encoding="utf-8"))
    top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert not any("django" in ast.unparse(n) for n in top_level)

    class Unconfigured:
        def __getattr__(self, name):
            raise AssertionError(f"settings.{name} read although every argument was given")

    monkeypatch.setattr(django.conf, "settings", Unconfigured())
    c = HubClient(endpoint=hub_env.endpoint, token="", timeout=5)
    with pytest.raises(RepoNotFound):
        c.resolve("nobody/nothing")
