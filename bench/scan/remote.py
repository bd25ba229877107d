"""Remote-scan bench: bytes transferred when scanning a multi-GB repo through HTTP Range requests.

Serves a generated repo (>= 1 GiB PyTorch zip ``pytorch_model.bin`` + >= 1 GiB ``model.safetensors`` +
``config.json`` + a small malicious ``evil/pytorch_model.bin``) from disk with ``bench/scan/rangeserver.py`` on
127.0.0.1 (``tests/hubserver`` keeps repos in memory, unsuitable for GBs), then scans each file with
``HubClient(endpoint=...).range_reader`` + ``scanning.scanners.scan_reader`` (identity = the sha256 the server
advertises, like the Hub's LFS sha256). Prints bytes transferred per file and as a % of the repo (target < 1 %).

For comparison, picklescan's only remote mode (``scan_url``) is run on the PyTorch file: it downloads the whole
file. The other peers have no remote mode that avoids a full download.

Many-tensor PyTorch zips (real ``torch.save`` in a child process): a BERT-base layout (199 tensors, 438 MB) and a
2,000-tensor file (50 MB), each served as its own repo; targets < 1 % and < 5 % of the repo's bytes. Printed per
repo: bytes fetched (client and server counts), HTTP requests, % of the repo, seconds, and the process's peak RSS.

Usage: ``python -m bench.scan.remote [--size-gb 1.1] [--dir DIR] [--no-peers] [--only-many-tensors]``. Writes
``bench/out/remote.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.scan import extra_corpus, gen
from bench.scan.peers import PEERS_PY, peer_env
from bench.scan.rangeserver import RangeServer, self_signed

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "bench" / "out"
GIB = 1024**3
REPO_ID = "bench-org/multi-gb-model"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def prepare_repo(directory: Path, size: int) -> dict[str, Path]:
    big = gen.make_set(directory, size)
    files = {"pytorch_model.bin": big["pytorch-zip"], "model.safetensors": big["safetensors"]}
    cfg = directory / "config.json"
    cfg.write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    files["config.json"] = cfg
    evil = directory / "evil" / "pytorch_model.bin"
    evil.parent.mkdir(parents=True, exist_ok=True)
    evil.write_bytes(extra_corpus.torch_zip({"data.pkl": extra_corpus.system()}))
    files["evil/pytorch_model.bin"] = evil
    return files


_MANY_TENSORS = r"""
import sys, torch
kind, path = sys.argv[1], sys.argv[2]
sd = {}
if kind == "bert-base":  # BertModel state dict shapes (hidden 768, 12 layers, vocab 30522): 199 tensors
    H, I, L = 768, 3072, 12
    sd["embeddings.word_embeddings.weight"] = torch.zeros(30522, H)
    sd["embeddings.position_embeddings.weight"] = torch.zeros(512, H)
    sd["embeddings.token_type_embeddings.weight"] = torch.zeros(2, H)
    sd["embeddings.LayerNorm.weight"] = torch.zeros(H)
    sd["embeddings.LayerNorm.bias"] = torch.zeros(H)
    for layer in range(L):
        p = f"encoder.layer.{layer}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            sd[p + n + ".weight"] = torch.zeros(H, H)
            sd[p + n + ".bias"] = torch.zeros(H)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            sd[p + n + ".weight"] = torch.zeros(H)
            sd[p + n + ".bias"] = torch.zeros(H)
        sd[p + "intermediate.dense.weight"] = torch.zeros(I, H)
        sd[p + "intermediate.dense.bias"] = torch.zeros(I)
        sd[p + "output.dense.weight"] = torch.zeros(H, I)
        sd[p + "output.dense.bias"] = torch.zeros(H)
    sd["pooler.dense.weight"] = torch.zeros(H, H)
    sd["pooler.dense.bias"] = torch.zeros(H)
else:  # "2000": small tensors of mixed widths
    for i in range(int(kind)):
        sd[f"blocks.{i // 8}.p{i % 8}.weight"] = torch.zeros(64, 64 + (i % 5) * 16)
torch.save(sd, path)
"""
MANY_TENSOR_TARGETS = {"bert-base": 1.0, "2000": 5.0}  # % of the repo's bytes


def many_tensor_rows(workdir: Path) -> list[dict]:
    """Scan the many-tensor repos through the range server; one row per repo."""
    import resource

    from inventory.hub import HubClient
    from scanning.scanners import scan_reader
    from scanning.scanners.base import Limits

    rows = []
    for kind, target in MANY_TENSOR_TARGETS.items():
        root = workdir / f"many-{kind}"
        root.mkdir(parents=True, exist_ok=True)
        path = root / "pytorch_model.bin"
        if not path.exists():
            subprocess.run([sys.executable, "-c", _MANY_TENSORS, kind, str(path)], check=True, timeout=900)
        (root / "config.json").write_text(json.dumps({"model_type": "bert"}))
        files = {"pytorch_model.bin": path, "config.json": root / "config.json"}
        shas = {rel: sha256_of(p) for rel, p in files.items()}
        repo_size = sum(p.stat().st_size for p in files.values())
        server = RangeServer(f"bench-org/many-{kind}", root, COMMIT, sha256=shas).start()
        try:
            client = HubClient(endpoint=server.endpoint, token="", timeout=60.0)
            fetched = requests = 0
            verdicts = []
            t0 = time.perf_counter()
            for rel, p in files.items():
                reader = client.range_reader(f"bench-org/many-{kind}", COMMIT, rel, p.stat().st_size)
                res = scan_reader(reader, rel, limits=Limits(), sha256=shas[rel])
                fetched += reader.bytes_transferred
                requests += reader.requests
                verdicts.append(res.verdict.label)
            seconds = time.perf_counter() - t0
            sent = sum(server.bytes_sent.values())
        finally:
            server.stop()
        pct = 100 * fetched / repo_size
        rows.append(
            {
                "repo": f"many-{kind}",
                "repo_size": repo_size,
                "bytes_fetched": fetched,
                "server_bytes_sent": sent,
                "requests": requests,
                "percent": pct,
                "target_percent": target,
                "seconds": seconds,
                "verdicts": verdicts,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
        print(
            f"{'many-' + kind:<16} repo {repo_size:>13,} B  fetched {fetched:>11,} B (server {sent:,})  "
            f"{requests:>5} requests  {pct:7.3f}% of the repo (target < {target:g}%: {'met' if pct < target else 'NOT met'})"
            f"  {seconds:6.2f} s  peak RSS {rows[-1]['peak_rss_mb']:.0f} MB  {'/'.join(verdicts)}"
        )
    return rows


def picklescan_url(url: str, cafile: Path, timeout: float = 600.0) -> dict:
    code = (
        "import json,sys,time\n"
        "from picklescan.scanner import scan_url\n"
        "t=time.perf_counter(); r=scan_url(sys.argv[1])\n"
        "print(json.dumps({'infected': r.infected_files, 'error': r.scan_err, 's': time.perf_counter()-t}))\n"
    )
    try:
        env = {**peer_env(), "SSL_CERT_FILE": str(cafile)}  # picklescan only speaks HTTPS
        res = subprocess.run(
            [str(PEERS_PY), "-c", code, url], capture_output=True, timeout=timeout, env=env, check=False
        )
        return json.loads(res.stdout.decode().strip().splitlines()[-1])
    except (subprocess.SubprocessError, OSError, ValueError, IndexError) as exc:
        return {"failed": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-gb", type=float, default=1.1, help="size of each large file in GiB")
    ap.add_argument("--dir", type=Path, help="reuse/keep the repo files in this directory (not deleted)")
    ap.add_argument("--no-peers", action="store_true", help="skip picklescan's scan_url comparison")
    ap.add_argument("--out", type=Path, default=OUT / "remote.json")
    ap.add_argument("--only-many-tensors", action="store_true", help="only the 199- and 2,000-tensor zip repos")
    args = ap.parse_args(argv)
    os.environ.pop("HF_HUB_OFFLINE", None)
    if args.only_many_tensors:
        workdir = args.dir or Path(tempfile.mkdtemp(prefix="modelgate-bench-many-"))
        try:
            print("[remote] many-tensor PyTorch zips through HTTP range requests")
            rows = many_tensor_rows(workdir)
        finally:
            if args.dir is None:
                shutil.rmtree(workdir, ignore_errors=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"many_tensors": rows}, indent=1))
        print(f"\n[remote] wrote {args.out}")
        return 0
    try:
        from inventory.hub import HubClient
        from scanning.scanners import scan_reader
        from scanning.scanners.base import Limits
    except ImportError as exc:
        print(f"[remote] Modelgate remote scanning not available yet: {exc}")
        return 0

    workdir = args.dir or Path(tempfile.mkdtemp(prefix="modelgate-bench-repo-"))
    server: RangeServer | None = None
    try:
        files = prepare_repo(workdir, int(args.size_gb * GIB))
        shas: dict[str, str] = {}
        threads = [
            threading.Thread(target=lambda k=k, p=p: shas.__setitem__(k, sha256_of(p))) for k, p in files.items()
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        repo_size = sum(p.stat().st_size for p in files.values())
        server = RangeServer(REPO_ID, workdir, COMMIT, sha256=shas).start()
        client = HubClient(endpoint=server.endpoint, token="", timeout=60.0)
        print(
            f"[remote] serving {REPO_ID}@{COMMIT[:12]} ({repo_size / 1e9:.2f} GB, {len(files)} files) at {server.endpoint}"
        )
        rows = []
        for rel, path in files.items():
            size = path.stat().st_size
            before = server.bytes_sent.get(rel, 0)
            reader = client.range_reader(REPO_ID, COMMIT, rel, size)
            t0 = time.perf_counter()
            res = scan_reader(reader, rel, limits=Limits(), sha256=shas[rel])
            dt = time.perf_counter() - t0
            top = max(res.findings, key=lambda f: f.verdict, default=None)
            rows.append(
                {
                    "path": rel,
                    "size": size,
                    "format": res.format,
                    "verdict": res.verdict.label,
                    "top_finding": f"{top.rule}: {top.evidence or top.message}"[:120] if top else "",
                    "bytes_transferred": reader.bytes_transferred,
                    "server_bytes_sent": server.bytes_sent.get(rel, 0) - before,
                    "requests": reader.requests,
                    "seconds": dt,
                    "sha256": res.sha256,
                }
            )
        total = sum(r["bytes_transferred"] for r in rows)
        print(
            f"\n{'file':<24} {'size':>13} {'format':<12} {'verdict':<10} {'transferred':>12} {'% file':>8} {'reqs':>5} {'s':>6}"
        )
        print("-" * 96)
        for r in rows:
            print(
                f"{r['path']:<24} {r['size']:>13,} {r['format']:<12} {r['verdict']:<10} {r['bytes_transferred']:>12,} "
                f"{100 * r['bytes_transferred'] / max(1, r['size']):7.3f}% {r['requests']:>5} {r['seconds']:6.2f}"
            )
        pct = 100 * total / repo_size
        print(
            f"{'repo total':<24} {repo_size:>13,} {'':<12} {'':<10} {total:>12,} {pct:7.4f}%   (target < 1%: "
            f"{'met' if pct < 1 else 'NOT met'})"
        )
        mismatch = [r["path"] for r in rows if r["bytes_transferred"] != r["server_bytes_sent"]]
        if mismatch:
            print(f"  note: client/server byte counts differ for {', '.join(mismatch)} (server counts what it wrote)")
        for r in rows:
            if r["verdict"] != "safe":
                print(f"  {r['path']}: {r['verdict']} - {r['top_finding']}")
        peer_rows = {}
        tls = self_signed(workdir) if not args.no_peers and PEERS_PY.exists() else None
        if tls:
            rel = "pytorch_model.bin"
            https = RangeServer(REPO_ID, workdir, COMMIT, sha256=shas, tls=tls).start()
            try:
                ans = picklescan_url(https.url(rel), tls[0])
            finally:
                https.stop()
            sent = https.bytes_sent.get(rel, 0)
            size = files[rel].stat().st_size
            peer_rows["picklescan scan_url"] = {"file": rel, "bytes_transferred": sent, "answer": ans}
            print(
                f"\npicklescan scan_url({rel}): transferred {sent:,} bytes = {100 * sent / size:.1f}% of the file "
                f"({100 * sent / repo_size:.1f}% of the repo); answer {ans}"
            )
            print("modelscan / fickling / modelaudit: no range-based remote mode (they download whole files first).")
        print("\n[remote] many-tensor PyTorch zips")
        many = many_tensor_rows(workdir)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "repo_size": repo_size,
                    "total_transferred": total,
                    "percent": pct,
                    "files": rows,
                    "peers": peer_rows,
                    "many_tensors": many,
                },
                indent=1,
            )
        )
        print(f"\n[remote] wrote {args.out}")
    finally:
        if server is not None:
            server.stop()
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
