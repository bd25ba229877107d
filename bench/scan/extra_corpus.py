"""Extra bench corpus: published bypasses of the peer scanners, on top of the test corpora.

Each case cites the advisory / issue it comes from (or the technique). Payloads are harmless (``os.system('true')``,
``/tmp/x`` paths, ``example.invalid`` hosts) and NOTHING here is ever unpickled or executed: raw opcode streams are
hand-assembled, and the "realistic" cases use ``pickle.dumps`` of a stand-in object whose ``__reduce__`` merely
*names* ``os.system`` (pickling calls ``__reduce__``, which only returns a tuple; it does not run the command).

``build_corpus(dirpath) -> list[tuple[Path, str]]`` writes every case under ``dirpath`` and returns
``(file, expected verdict label)`` like ``tests/scanning/corpus_*.build_corpus``. ``NOTES`` maps a case name to
where it comes from (printed by the detection bench next to misses).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

M, UN, SAFE = "malicious", "unscannable", "safe"

# --- tiny opcode assembler ---------------------------------------------------------------------------------


def u(s: str) -> bytes:
    b = s.encode()
    return (b"\x8c" + bytes([len(b)]) + b) if len(b) < 256 else (b"X" + struct.pack("<I", len(b)) + b)


def g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def sg(module: str, name: str) -> bytes:
    return u(module) + u(name) + b"\x93"


def tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def call(func: bytes, *args: bytes) -> bytes:
    return func + tup(*args) + b"R"


def p2(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def p4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def binbytes(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def system(cmd: str = "true") -> bytes:
    return p2(call(g("os", "system"), u(cmd)))


def gcall(module: str, name: str, *args: bytes, stack: bool = False) -> bytes:
    return p4(call(sg(module, name) if stack else g(module, name), *args))


class _Reduce:
    """Stand-in whose pickle *names* a callable; pickling never calls it."""

    def __init__(self, func: Callable[..., object], *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def real_payload() -> _Reduce:
    return _Reduce(os.system, "true")


# --- containers --------------------------------------------------------------------------------------------


def torch_zip(members: dict[str, bytes], prefix: str = "archive") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/version", b"3\n")
        for name, data in members.items():
            zf.writestr(f"{prefix}/{name}", data)
        zf.writestr(f"{prefix}/byteorder", b"little")
    return buf.getvalue()


def zip_duplicate_names(first: bytes, second: bytes, name: str = "archive/data.pkl") -> bytes:
    """Two members with the same name: readers disagree on which one wins (first vs last)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/version", b"3\n")
        zf.writestr(name, first)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zf.writestr(name, second)
    return buf.getvalue()


def bad_crc_deflated(name: str, data: bytes) -> bytes:
    """CVE-2025-10156 shape: a member whose stored CRC is wrong (Python's zipfile raises, torch's reader doesn't)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    raw = bytearray(buf.getvalue())
    # Corrupt the CRC in the local header (offset 14) and in the central directory entry.
    raw[14:18] = b"\xde\xad\xbe\xef"
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 16 : cd + 20] = b"\xde\xad\xbe\xef"
    return bytes(raw)


def legacy_tar_torch(pickle_member: bytes) -> bytes:
    """Legacy (pre-1.6) ``torch.save`` tar layout: sys_info, pickle, storages, tensors members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (
            ("sys_info", pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)),
            ("pickle", pickle_member),
            ("storages", pickle.dumps(0, protocol=2)),
            ("tensors", pickle.dumps(0, protocol=2)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def targz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def npy_object(body: bytes) -> bytes:
    header = repr({"descr": "|O", "fortran_order": False, "shape": (1,)}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def sevenzip(name: str, data: bytes) -> bytes | None:
    """A 7z archive made by py7zr from the bench peers venv (the app venv does not ship it); None if absent."""
    peers_py = Path(__file__).resolve().parent.parent / ".venv-peers" / "bin" / "python"
    if not peers_py.exists():
        return None
    code = (
        "import io,sys,py7zr\n"
        "b=io.BytesIO()\n"
        "with py7zr.SevenZipFile(b,'w') as z: z.writestr(sys.stdin.buffer.read(), sys.argv[1])\n"
        "sys.stdout.buffer.write(b.getvalue())\n"
    )
    try:
        res = subprocess.run([str(peers_py), "-c", code, name], input=data, capture_output=True, timeout=60, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    return res.stdout or None


# --- the cases ---------------------------------------------------------------------------------------------

NOTES: dict[str, str] = {}


def _cases() -> list[tuple[str, bytes | Callable[[Path], None] | None, str, str]]:
    """(relative name, content or writer, expected label, source note)."""
    out: list[tuple[str, bytes | Callable[[Path], None] | None, str, str]] = []

    def add(name: str, content: bytes | Callable[[Path], None] | None, label: str, note: str) -> None:
        out.append((name, content, label, note))

    # picklescan CVE-2025-10155: a raw pickle with a PyTorch extension (scan_pytorch fails on the magic number).
    for ext in ("pt", "bin", "pth", "ckpt"):
        add(f"cve_2025_10155_raw_pickle.{ext}", system(), M, "picklescan CVE-2025-10155 (PyTorch extension bypass)")
    # CVE-2025-10156: bad CRC in a zip member (zipfile raises, torch.load reads it anyway).
    add(
        "cve_2025_10156_bad_crc_deflated.bin",
        bad_crc_deflated("archive/data.pkl", system()),
        M,
        "picklescan CVE-2025-10156 (zip CRC error aborts the scan)",
    )
    # CVE-2025-10157: submodule of a module on the dangerous list ('asyncio' listed, 'asyncio.unix_events' not).
    add(
        "cve_2025_10157_asyncio_submodule.pkl",
        gcall("asyncio.unix_events", "_UnixSubprocessTransport._start", stack=True),
        M,
        "picklescan CVE-2025-10157 (subclass/submodule of dangerous module)",
    )
    add(
        "cve_2025_10157_asyncio_base_events.pkl",
        gcall("asyncio.base_events", "BaseEventLoop.subprocess_shell", stack=True),
        M,
        "picklescan CVE-2025-10157 variant",
    )
    # CVE-2025-1716: pip as a callable (already in the test corpus as pip.main); here the runner entry point.
    add(
        "cve_2025_1716_pip_runner.pkl",
        gcall("pip._internal.cli.main", "main", b"]" + u("install") + b"a"),
        M,
        "picklescan CVE-2025-1716 (pip.main)",
    )
    # modelscan misses: bdb / pdb / asyncio globals.
    add("modelscan_pdb_run.pkl", gcall("pdb", "run", u("import os")), M, "modelscan: pdb not on its unsafe list")
    add("modelscan_pdb_class_run.pkl", gcall("pdb", "Pdb.run", u("1"), stack=True), M, "modelscan: pdb.Pdb.run")
    add("builtins_breakpoint.pkl", gcall("builtins", "breakpoint"), M, "breakpoint() enters pdb")
    # fickling bypass: pty.spawn (not on its unsafe-imports list at the time of the report).
    add("fickling_pty_spawn.pkl", gcall("pty", "spawn", u("true")), M, "fickling bypass via pty.spawn")
    # Process variants.
    add("os_popen.pkl", gcall("os", "popen", u("true")), M, "os.popen")
    add("os_execvp.pkl", gcall("os", "execvp", u("true"), b"]" + u("true") + b"a"), M, "os.execvp")
    add("os_posix_spawn.pkl", gcall("os", "posix_spawn", u("/bin/true"), b"]", b"}"), M, "os.posix_spawn")
    add("os_spawnlp.pkl", gcall("os", "spawnlp", b"K\x00", u("true"), u("true")), M, "os.spawnlp")
    add("posixsubprocess_fork_exec.pkl", gcall("_posixsubprocess", "fork_exec"), M, "_posixsubprocess.fork_exec")
    add("multiprocessing_spawnv.pkl", gcall("multiprocessing.util", "spawnv_passfds", u("true")), M, "mp spawnv")
    # Code execution / imports.
    add("importlib_import_module.pkl", gcall("importlib", "import_module", u("os")), M, "importlib.import_module")
    add("pkgutil_resolve_name.pkl", gcall("pkgutil", "resolve_name", u("os:system")), M, "pkgutil.resolve_name")
    add("zipimport_zipimporter.pkl", gcall("zipimport", "zipimporter", u("/tmp/x.zip")), M, "zipimport")
    add("builtins_setattr.pkl", gcall("builtins", "setattr", b"N", u("x"), b"N"), M, "builtins.setattr")
    add("builtins_globals.pkl", gcall("builtins", "globals"), M, "builtins.globals")
    # Nested loaders reached through a bytes argument or a path.
    add("nested_dill_loads.pkl", p2(call(g("dill", "loads"), binbytes(system()))), M, "dill.loads of bytes arg")
    add("nested_joblib_load.pkl", gcall("joblib", "load", u("/tmp/x.joblib")), M, "joblib.load nested")
    add("nested_pandas_read_pickle.pkl", gcall("pandas", "read_pickle", u("/tmp/x")), M, "pandas.read_pickle")
    add("nested_torch_serialization_load.pkl", gcall("torch.serialization", "load", u("/tmp/x")), M, "torch.load alias")
    add("nested_numpy_npyio_load.pkl", gcall("numpy.lib.npyio", "load", u("/tmp/x"), b"\x88"), M, "numpy.load alias")
    add("nested_torch_hub_load.pkl", gcall("torch.hub", "load", u("evil/repo"), u("m")), M, "torch.hub.load")
    add("nested_keras_load_model.pkl", gcall("keras.models", "load_model", u("/tmp/x.keras")), M, "keras load")
    # Network / filesystem variants.
    add("smtplib_smtp.pkl", gcall("smtplib", "SMTP", u("example.invalid")), M, "smtplib")
    add("ftplib_ftp.pkl", gcall("ftplib", "FTP", u("example.invalid")), M, "ftplib")
    add("http_client_conn.pkl", gcall("http.client", "HTTPSConnection", u("example.invalid")), M, "http.client")
    add("xmlrpc_serverproxy.pkl", gcall("xmlrpc.client", "ServerProxy", u("http://example.invalid")), M, "xmlrpc")
    add("shutil_copyfile.pkl", gcall("shutil", "copyfile", u("/etc/hostname"), u("/tmp/x")), M, "shutil.copyfile")
    add("os_rename.pkl", gcall("os", "rename", u("/tmp/a"), u("/tmp/b")), M, "os.rename")
    add("os_chmod.pkl", gcall("os", "chmod", u("/tmp/a"), b"M\xff\x01"), M, "os.chmod")
    # Memo / opcode trickery against naive symbolic stacks.
    body = u("builtins") + b"q\x00" + b"0" + u("os") + b"q\x00" + b"0" + b"h\x00" + u("system") + b"\x93"
    add("memo_overwrite.pkl", p4(body + tup(u("true")) + b"R"), M, "BINPUT overwrites memo slot 0 (last write wins)")
    # MEMOIZE assigns len(memo), not "previous index + 1": BINPUT 5 then MEMOIZE -> index 1.
    body = u("posix") + b"q\x05" + b"0" + u("system") + b"\x94" + b"0" + b"h\x05" + b"h\x01" + b"\x93"
    add("memoize_after_binput.pkl", p4(body + tup(u("true")) + b"R"), M, "MEMOIZE index = len(memo)")
    body = b"U\x02os" + b"U\x06system" + b"\x93"
    add("short_binstring_stack_global.pkl", p2(body + tup(u("true")) + b"R"), M, "SHORT_BINSTRING names")
    body = call(g("os", "system"), u("true")) + b"0" + b"}" + u("ok") + b"K\x01s"
    add("payload_then_pop.pkl", p2(body), M, "payload result popped, benign dict returned")
    add(
        "payload_in_dict_value.pkl",
        p2(b"}" + u("state_dict") + call(g("os", "system"), u("true")) + b"s"),
        M,
        "payload as a value of a state_dict-looking dict",
    )
    # Realistic payloads made by pickle.dumps / torch.save / numpy / joblib of a __reduce__ stand-in.
    add("real_reduce_p5_framed.pkl", pickle.dumps(real_payload(), protocol=5), M, "pickle.dumps (FRAME/MEMOIZE)")
    add("real_reduce_p0.pkl", pickle.dumps(real_payload(), protocol=0), M, "pickle.dumps protocol 0")

    def torch_save_payload(p: Path) -> None:
        import torch

        torch.save({"weight": torch.zeros(4), "hook": real_payload()}, p)

    add("torch_save_reduce.pt", torch_save_payload, M, "torch.save of a state dict with a __reduce__ object")

    def torch_save_payload_legacy(p: Path) -> None:
        import torch

        torch.save({"hook": real_payload()}, p, _use_new_zipfile_serialization=False)

    add("torch_save_reduce_legacy.pt", torch_save_payload_legacy, M, "legacy torch.save with a payload")

    def np_object_payload(p: Path) -> None:
        import numpy as np

        arr = np.empty(1, dtype=object)
        arr[0] = real_payload()
        with open(p, "wb") as fh:
            np.save(fh, arr, allow_pickle=True)

    add("np_object_reduce.npy", np_object_payload, M, "numpy.load(allow_pickle=True) object array")

    def joblib_payload(p: Path) -> None:
        import joblib

        joblib.dump({"model": real_payload()}, p)

    add("joblib_reduce.joblib", joblib_payload, M, "joblib.dump of a payload")

    def joblib_payload_xz(p: Path) -> None:
        import joblib

        joblib.dump({"model": real_payload()}, p, compress=("xz", 3))

    add("joblib_reduce_xz.joblib", joblib_payload_xz, M, "joblib xz-compressed payload")
    # Containers peers do not open.
    add("zip_duplicate_names.pt", zip_duplicate_names(pickle.dumps({}), system()), M, "duplicate member names")
    add("zip_duplicate_names_rev.pt", zip_duplicate_names(system(), pickle.dumps({})), M, "duplicate (payload first)")
    add("legacy_tar_torch.pt", legacy_tar_torch(system()), M, "legacy tar torch.save layout")
    add("pickle_gzip.pkl.gz", gzip.compress(system()), M, "gzip-compressed pickle")
    add("pickle_bz2.pkl.bz2", bz2.compress(system()), M, "bz2-compressed pickle")
    add("pickle_xz.pkl.xz", lzma.compress(system()), M, "xz-compressed pickle")
    add("model_targz.tar.gz", targz({"model/pytorch_model.bin": system()}), M, "tar.gz with a pickle")
    add("npy_named_bin.bin", npy_object(system()), M, ".npy object array named .bin")
    add("zip_pkl_inside_npz_name.npz", torch_zip({"data.pkl": system()}), M, "torch zip named .npz")
    sz = sevenzip("data.pkl", system())
    # 7z is recognized but not unpacked by Modelgate (no 7z decoder in the app): fail closed = unscannable.
    add("sevenzip_pickle.7z", sz, UN, "7z-packed pickle (picklescan/fickling 7z support)")
    add("sevenzip_named_pt.pt", sz, UN, "7z-packed pickle with a .pt name")
    # Benign cases peers false-flag.
    add("benign_bytes_codecs_encode.pkl", pickle.dumps({"b": b"\x00\xff" * 4}, protocol=2), SAFE, "_codecs.encode")

    def namespace_p0(p: Path) -> None:
        import argparse

        p.write_bytes(pickle.dumps(argparse.Namespace(lr=0.1, epochs=3), protocol=0))

    add("benign_namespace_p0.pkl", namespace_p0, SAFE, "copyreg._reconstructor + argparse.Namespace")

    def torch_sd(p: Path) -> None:
        import torch

        gen = torch.Generator().manual_seed(0)
        sd = {f"layer{i}.weight": torch.randn(8, 8, generator=gen) for i in range(3)}
        torch.save(sd, p)

    add("benign_state_dict.pt", torch_sd, SAFE, "plain torch state dict")

    def torch_optimizer(p: Path) -> None:
        import torch

        model = torch.nn.Linear(4, 2)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model(torch.ones(1, 4)).sum().backward()
        opt.step()
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, p)

    add("benign_checkpoint_optimizer.pt", torch_optimizer, SAFE, "training checkpoint with AdamW state")

    def torch_bf16(p: Path) -> None:
        import torch

        torch.save({"w": torch.ones(4, dtype=torch.bfloat16), "i": torch.arange(3, dtype=torch.int64)}, p)

    add("benign_bf16.pt", torch_bf16, SAFE, "bf16/int64 tensors")
    add("benign_concat_numpy.pkl", _np_concat, SAFE, "two pickled numpy arrays back to back")
    return out


def _np_concat(p: Path) -> None:
    import numpy as np

    p.write_bytes(pickle.dumps(np.arange(3.0), protocol=2) + pickle.dumps(np.ones((2, 2)), protocol=4))


def build_corpus(dirpath: Path | str) -> list[tuple[Path, str]]:
    """Write the extra cases under ``dirpath/<label>/``; return (file, expected label). Skips unavailable ones."""
    root = Path(dirpath)
    out: list[tuple[Path, str]] = []
    for name, content, label, note in _cases():
        target = root / label / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if content is None:
                print(f"[extra_corpus] skipped {name}: generator unavailable", file=sys.stderr)
                continue
            if callable(content):
                content(target)
            else:
                target.write_bytes(content)
        except Exception as exc:  # a missing optional library (joblib, torch) skips the case, loudly
            print(f"[extra_corpus] skipped {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            target.unlink(missing_ok=True)
            continue
        NOTES[name] = note
        out.append((target, label))
    return out
