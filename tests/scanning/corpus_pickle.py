"""Generated corpus for the pickle / torch / numpy / joblib / zip scanners and the router.

Malicious samples are hand-assembled opcode streams (or pickled stand-ins whose ``__reduce__`` names a
harmless command); they are NEVER loaded. Payloads are harmless anyway (``os.system('true')``).
Benign samples are written by the real libraries (torch, numpy, scikit-learn, joblib) when installed.

``build_corpus(dirpath) -> list[tuple[Path, str]]``: every sample file and its expected verdict label
(``safe`` / ``suspicious`` / ``unscannable`` / ``malicious``), reusable by benchmarks.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import fractions
import io
import pathlib
import pickle
import re
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------------
# A tiny pickle assembler
# --------------------------------------------------------------------------------------------------


def u(s: str) -> bytes:
    """SHORT_BINUNICODE / BINUNICODE push of a str."""
    b = s.encode()
    return (b"\x8c" + bytes([len(b)]) + b) if len(b) < 256 else (b"X" + struct.pack("<I", len(b)) + b)


def g(module: str, name: str) -> bytes:
    """GLOBAL opcode."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def sg(module: str, name: str) -> bytes:
    """STACK_GLOBAL from two pushed strings."""
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


def system(cmd: str = "true", proto: int = 2) -> bytes:
    """os.system(cmd) as a complete pickle."""
    if proto >= 4:
        return p4(call(sg("os", "system"), u(cmd)))
    return p2(call(g("os", "system"), u(cmd)))


def global_call(module: str, name: str, *args: bytes, stack: bool = False) -> bytes:
    return p4(call(sg(module, name) if stack else g(module, name), *args))


# --------------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------------


def torch_zip(members: dict[str, bytes], prefix: str = "archive", deflate: bool = False) -> bytes:
    """A PyTorch-style zip (data.pkl + version + data/N) around the given members."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(f"{prefix}/{name}", data)
        z.writestr(f"{prefix}/version", b"3\n")
        z.writestr(f"{prefix}/byteorder", b"little")
    return buf.getvalue()


def plain_zip(members: dict[str, bytes], deflate: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def local_header(name: str, data: bytes) -> bytes:
    """A stored local file header + data (no central directory entry)."""
    crc = zlib.crc32(data)
    n = name.encode()
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(n), 0) + n + data


def zip_with_hidden_member(visible: dict[str, bytes], hidden_name: str, hidden: bytes) -> bytes:
    """A valid zip whose central directory does not list one member present in the local headers."""
    good = torch_zip(visible)
    z = zipfile.ZipFile(io.BytesIO(good))
    cd_offset = min(i.header_offset for i in z.infolist())
    assert cd_offset == 0
    # append the hidden local member after the last member's data, before the central directory
    eocd = good.rfind(b"PK\x05\x06")
    (cd_size, cd_off) = struct.unpack_from("<II", good, eocd + 12)
    extra = local_header(hidden_name, hidden)
    body = good[:cd_off] + extra
    cd = good[cd_off : cd_off + cd_size]
    tail = bytearray(good[cd_off + cd_size :])
    struct.pack_into("<I", tail, 16, len(body))
    return body + cd + bytes(tail)


def bad_crc_zip(members: dict[str, bytes]) -> bytes:
    data = bytearray(torch_zip(members))
    # corrupt the CRC of the first member in both headers
    lh = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, lh + 14, 0xDEADBEEF)
    ch = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, ch + 16, 0xDEADBEEF)
    return bytes(data)


def local_only_zip(members: dict[str, bytes]) -> bytes:
    """Local headers only: no central directory at all (streaming unzippers still read it)."""
    return b"".join(local_header(n, d) for n, d in members.items())


def npy_bytes(header: dict[str, Any], body: bytes) -> bytes:
    text = repr(header).encode("latin-1")
    pad = 64 - ((10 + len(text) + 1) % 64)
    text = text + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body


def legacy_torch(main: bytes) -> bytes:
    """Legacy torch.save layout: magic, protocol, sys_info, main object, storage keys (no storages)."""
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    proto = pickle.dumps(1001, protocol=2)
    sysinfo = pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
    keys = pickle.dumps([], protocol=2)
    return magic + proto + sysinfo + main + keys


def legacy_tar(main: bytes | None = None, storage_args: bytes | None = None) -> bytes:
    """The oldest torch.save layout (tar of sys_info, pickle, storages, tensors), hand-built."""
    import tarfile

    sys_info = pickle.dumps({"protocol_version": 1000, "little_endian": True}, protocol=2)
    main = main if main is not None else p2(b"}" + u("w") + b"(" + u("t0") + b"tQ" + b"s")
    args = storage_args or p2(tup(u("0"), u("cpu"), g("torch", "FloatStorage")))
    storages = pickle.dumps(1, protocol=2) + args + struct.pack("<q", 2) + b"\0" * 8 + pickle.dumps([], protocol=2)
    tensor = p2(tup(u("t0"), u("0"), g("torch", "FloatTensor")))
    tensors = pickle.dumps(1, protocol=2) + tensor + struct.pack("<i", 1) + b"\0" * 4 + struct.pack("<qqq", 2, 1, 0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in (("sys_info", sys_info), ("pickle", main), ("storages", storages), ("tensors", tensors)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# Malicious samples (name, bytes, label)
# --------------------------------------------------------------------------------------------------


def _inner_bytes_loader(inner: bytes, module: str = "pickle", name: str = "loads") -> bytes:
    return p2(call(g(module, name), binbytes(inner)))


def malicious_samples() -> list[tuple[str, bytes, str]]:
    m = "malicious"
    out: list[tuple[str, bytes, str]] = []
    add = out.append

    add(("os_system_p2.pkl", system(), m))
    add(("os_system_p4_stackglobal.pkl", system(proto=4), m))
    add(("posix_system_p0.pkl", b"cposix\nsystem\n(S'true'\ntR.", m))
    add(("nt_system_p0.pkl", b"cnt\nsystem\n(Vtrue\ntR.", m))
    add(("subprocess_popen_newobj.pkl", p2(g("subprocess", "Popen") + tup(b"(" + u("true") + b"l") + b"\x81"), m))
    add(("subprocess_check_output.pkl", global_call("subprocess", "check_output", b"]" + u("true") + b"a"), m))
    add(("newobj_ex.pkl", p4(sg("subprocess", "Popen") + tup(u("true")) + b"}" + b"\x92"), m))
    add(("eval.pkl", global_call("builtins", "eval", u("__import__('os').system('true')")), m))
    add(("exec_stack.pkl", global_call("builtins", "exec", u("pass"), stack=True), m))
    # getattr(__import__('os'), 'system')('true')
    imp = call(g("builtins", "__import__"), u("os"))
    add(("getattr_import_chain.pkl", p2(call(call(g("builtins", "getattr"), imp, u("system")), u("true"))), m))
    # STACK_GLOBAL with memoized strings and BINGET
    body = (
        u("os") + b"\x94" + u("system") + b"\x94" + b"0" + b"0" + b"h\x00" + b"h\x01" + b"\x93" + tup(u("true")) + b"R"
    )
    add(("stack_global_memo.pkl", p4(body), m))
    # STACK_GLOBAL with names from LONG_BINGET after BINPUT, and DUP/POP noise
    body = u("subprocess") + b"q\x05" + b"0" + b"j\x05\x00\x00\x00" + u("getoutput") + b"2" + b"0" + b"\x93"
    add(("stack_global_binput_dup.pkl", p4(body + tup(u("true")) + b"R"), m))
    # names built by operator.add: STACK_GLOBAL(operator.add('o','s'), 'system')
    add(
        (
            "stack_global_computed.pkl",
            p4(call(g("operator", "add"), u("o"), u("s")) + u("system") + b"\x93" + tup(u("true")) + b"R"),
            m,
        )
    )
    # STRING (protocol 0) strings fed to STACK_GLOBAL
    add(("stack_global_p0_strings.pkl", b"S'os'\nS'system'\n\x93(S'true'\ntR.", m))
    add(("inst_opcode.pkl", b"(S'true'\nios\nsystem\n.", m))
    add(("obj_opcode.pkl", b"(cos\nsystem\nS'true'\no.", m))
    add(("protocol0_text.pkl", b"cos\nsystem\n(S'true'\ntR.", m))
    add(("io_fileio.pkl", global_call("_io", "FileIO", u("/tmp/x"), u("w")), m))
    add(("builtins_open.pkl", global_call("builtins", "open", u("/tmp/x"), u("w")), m))
    add(("pip_main.pkl", global_call("pip", "main", b"]" + u("install") + b"a"), m))
    add(("pip_internal_main.pkl", global_call("pip._internal.cli.main", "main", stack=True), m))
    add(("runpy_run_code.pkl", global_call("runpy", "_run_code", u("print(1)"), b"}"), m))
    add(("torch_load_nested.pkl", global_call("torch", "load", u("/tmp/x.pt")), m))
    add(("torch_jit_load.pkl", global_call("torch.jit", "load", u("/tmp/x.pt")), m))
    add(("numpy_load_nested.pkl", global_call("numpy", "load", u("/tmp/x.npy"), b"\x88"), m))
    add(("pickle_loads_nested.pkl", _inner_bytes_loader(system()), m))
    nested_zip = torch_zip({"data.pkl": system()})
    add(
        (
            "torch_load_from_bytes.pt",
            torch_zip({"data.pkl": _inner_bytes_loader(nested_zip, "torch.storage", "_load_from_bytes")}),
            m,
        )
    )
    add(
        (
            "pickle_loads_b64.pkl",
            p2(
                call(
                    g("pickle", "loads"),
                    call(g("base64", "b64decode"), u(__import__("base64").b64encode(system()).decode())),
                )
            ),
            m,
        )
    )
    # the inner payload is benign, but nested loaders are denied by themselves
    add(("pickle_loads_benign_inner.pkl", _inner_bytes_loader(pickle.dumps([1, 2])), m))
    # large nested payload (kept as a Blob, scanned in place through a SubReader)
    big_inner = p2(call(g("os", "system"), u("true")) + b"0" + u("x" * 70000))
    add(("pickle_loads_big_nested.pkl", _inner_bytes_loader(big_inner, "_pickle"), m))
    add(("asyncio_subprocess.pkl", global_call("asyncio.subprocess", "create_subprocess_shell", u("true")), m))
    add(("asyncio_create_subprocess.pkl", global_call("asyncio", "create_subprocess_exec", u("true")), m))
    add(("bdb_run.pkl", global_call("bdb", "Bdb.run", u("1"), stack=True), m))
    add(("cprofile_run.pkl", global_call("cProfile", "run", u("__import__('os').system('true')")), m))
    add(("timeit.pkl", global_call("timeit", "timeit", u("__import__('os').system('true')")), m))
    add(("pydoc_pipepager.pkl", global_call("pydoc", "pipepager", u("x"), u("true")), m))
    add(("distutils_write_file.pkl", global_call("distutils.file_util", "write_file", u("/tmp/x"), b"]"), m))
    add(("venv_create.pkl", global_call("venv", "create", u("/tmp/v")), m))
    add(("ensurepip.pkl", global_call("ensurepip", "_run_pip", b"]"), m))
    add(("idlelib.pkl", global_call("idlelib.pyshell", "main"), m))
    add(("lib2to3.pkl", global_call("lib2to3.pgen2.pgen", "generate_grammar", u("/tmp/g")), m))
    mc = call(g("operator", "methodcaller"), u("system"), u("true"))
    add(("operator_methodcaller.pkl", p2(call(mc, call(g("builtins", "__import__"), u("os")))), m))
    add(("operator_attrgetter.pkl", global_call("operator", "attrgetter", u("system")), m))
    add(("c_operator_attrgetter.pkl", global_call("_operator", "attrgetter", u("system")), m))
    add(
        (
            "torch_config_module.pkl",
            global_call("torch.utils._config_module", "ConfigModule.load_config", b"N", stack=True),
            m,
        )
    )
    add(("functools_partial.pkl", p2(call(call(g("functools", "partial"), g("os", "system"), u("true")))), m))
    add(("code_interactive.pkl", global_call("code", "InteractiveInterpreter.runsource", u("1"), stack=True), m))
    add(("trace_run.pkl", global_call("trace", "Trace.run", u("1"), stack=True), m))
    add(("profile_run.pkl", global_call("profile", "Profile.run", u("1"), stack=True), m))
    add(("doctest_debug_script.pkl", global_call("doctest", "debug_script", u("1")), m))
    add(("numpy_runstring.pkl", global_call("numpy.testing._private.utils", "runstring", u("1"), b"}"), m))
    add(("torch_collect_env_run.pkl", global_call("torch.utils.collect_env", "run", u("true")), m))
    add(
        (
            "torch_inductor_codecache.pkl",
            global_call("torch._inductor.codecache", "PyCodeCache.load", u("1"), stack=True),
            m,
        )
    )
    add(("uuid_get_command_stdout.pkl", global_call("uuid", "_get_command_stdout", u("true")), m))
    add(("osx_support_read_output.pkl", global_call("_osx_support", "_read_output", u("true")), m))
    add(("imaplib_imap4_stream.pkl", global_call("imaplib", "IMAP4_stream", u("true")), m))
    add(("logging_config_listen.pkl", global_call("logging.config", "listen", b"K\x01"), m))
    add(("webbrowser_open.pkl", global_call("webbrowser", "open", u("http://example.invalid")), m))
    add(("socket_connect.pkl", global_call("socket", "create_connection", tup(u("example.invalid"), b"KP")), m))
    add(("urllib_urlopen.pkl", global_call("urllib.request", "urlopen", u("http://example.invalid")), m))
    add(("requests_get.pkl", global_call("requests", "get", u("http://example.invalid")), m))
    add(("httpx_get.pkl", global_call("httpx", "get", u("http://example.invalid")), m))
    add(("shutil_rmtree.pkl", global_call("shutil", "rmtree", u("/tmp/nothing-here")), m))
    add(("os_remove.pkl", global_call("os", "remove", u("/tmp/nothing-here")), m))
    add(("pathlib_write_text.pkl", global_call("pathlib", "Path.write_text", stack=True), m))
    add(("ctypes_cdll.pkl", global_call("ctypes", "CDLL", u("libc.so.6")), m))
    add(("numpy_memmap_called.pkl", global_call("numpy", "memmap", u("/tmp/x"), u("f4"), u("w+")), m))
    add(("torch_save_called.pkl", global_call("torch", "save", b"}", u("/tmp/x.pt")), m))
    add(("marshal_loads.pkl", global_call("marshal", "loads", binbytes(b"\xe3")), m))
    add(("types_functiontype.pkl", global_call("types", "FunctionType", b"N", b"}"), m))
    add(("sys_modules.pkl", p2(g("sys", "modules")), m))
    add(("copyreg_add_extension.pkl", global_call("copyreg", "add_extension", u("os"), u("system"), b"K\x01"), m))
    add(("dill_create_function.pkl", global_call("dill._dill", "_create_function", b"N", b"}"), m))
    add(("py2_builtin_eval.pkl", b"c__builtin__\neval\n(S'1'\ntR.", m))
    add(("py2_commands_getoutput.pkl", b"ccommands\ngetoutput\n(S'true'\ntR.", m))
    add(("py2_cpickle_loads.pkl", b"ccPickle\nloads\n(S'x'\ntR.", m))
    # obfuscation: attribute traversal smuggled in the name
    add(("traversal_torch_os_system.pkl", global_call("torch", "os.system", u("true"), stack=True), m))
    add(("traversal_dunder_class.pkl", global_call("collections", "OrderedDict.__class__", stack=True), m))
    add(("traversal_builtins_dict.pkl", global_call("builtins", "__builtins__", stack=True), m))
    add(("traversal_serialization_pickle.pkl", global_call("torch.serialization", "pickle.loads", stack=True), m))
    add(("traversal_numpy_globals.pkl", global_call("numpy", "load.__globals__", stack=True), m))
    # a broken pickle: the payload runs before the unknown opcode stops the loader
    add(("broken_after_payload.pkl", b"\x80\x02" + call(g("os", "system"), u("true")) + b"\xff\xfe", m))
    add(("truncated_after_payload.pkl", b"\x80\x02" + call(g("os", "system"), u("true")) + b"X\xff\x00\x00\x00ab", m))
    add(("protocol6_after_payload.pkl", b"\x80\x02" + call(g("os", "system"), u("true")) + b"0\x80\x06N.", m))
    # concatenated pickles: benign first, payload second
    add(("concatenated.pkl", pickle.dumps({"a": 1}, protocol=2) + system(), m))
    add(("concatenated_three.pkl", pickle.dumps(1) + pickle.dumps([2]) + system(proto=4), m))
    # BUILD tricks
    odict = g("collections", "OrderedDict") + b")R"
    add(("build_dunder_setstate.pkl", p2(odict + b"N}" + u("__setstate__") + b"K\x01s" + b"\x86" + b"b"), m))
    add(("build_on_global.pkl", p2(g("collections", "OrderedDict") + b"N}" + u("fromkeys") + b"K\x01s\x86b"), m))
    # Containers
    add(("torch_zip_malicious_datapkl.pt", torch_zip({"data.pkl": system()}), m))
    add(("torch_zip_other_member.pt", torch_zip({"data.pkl": pickle.dumps({}), "extra/payload.pkl": system()}), m))
    add(("torch_zip_unnamed_member.pt", torch_zip({"data.pkl": pickle.dumps({}), "tensors": system()}), m))
    add(("torch_zip_deflated.pt", torch_zip({"data.pkl": system()}, deflate=True), m))
    add(
        (
            "zip_hidden_local_member.pt",
            zip_with_hidden_member({"data.pkl": pickle.dumps({})}, "x/data.pkl", system()),
            m,
        )
    )
    add(("zip_bad_crc.pt", bad_crc_zip({"data.pkl": system()}), m))
    add(("zip_local_only.pt", local_only_zip({"archive/data.pkl": system(), "archive/version": b"3\n"}), m))
    add(("zip_prepended_data.pt", b"JUNKJUNK" * 8 + torch_zip({"data.pkl": system()}), m))
    add(("bin_hiding_zip.bin", plain_zip({"weights/model.pkl": system()}), m))
    add(("safetensors_is_pickle.safetensors", system(), m))
    add(("json_is_pickle.json", b"cos\nsystem\n(S'true'\ntR.", m))
    add(
        (
            "torchscript_constants.pt",
            torch_zip({"data.pkl": pickle.dumps({}), "constants.pkl": system(), "code/__torch__.py": b"x = 1\n"}),
            m,
        )
    )
    add(("torchscript_torch_name_outside_ts.pkl", global_call("__torch__", "Evil", stack=True), "suspicious"))
    obj_npy = npy_bytes({"descr": "|O", "fortran_order": False, "shape": (1,)}, system(proto=4))
    add(("npy_object_payload.npy", obj_npy, m))
    add(("npz_payload.npz", plain_zip({"arr_0.npy": obj_npy}, deflate=False), m))
    add(("npz_compressed_payload.npz", plain_zip({"arr_0.npy": obj_npy}), m))
    add(("legacy_torch_payload.pt", legacy_torch(system()), m))
    pt2 = {"archive_format": b"pt2", "models/model.json": b"{}", "data/weights/weight_0": b"\0" * 8}
    pt2["data/sample_inputs/model.pt"] = torch_zip({"data.pkl": system()})
    add(("export_sample_inputs_payload.pt2", plain_zip({f"m/{k}": v for k, v in pt2.items()}, deflate=False), m))
    add(("legacy_tar_payload.pt", legacy_tar(main=system()), m))
    add(("legacy_tar_storage_payload.pt", legacy_tar(storage_args=system()), m))
    add(("joblib_zlib_payload.joblib", zlib.compress(system(proto=4)), m))
    add(("polyglot_pickle_zip.pkl", pickle.dumps([1], protocol=2) + plain_zip({"a.pkl": system()}), m))
    # zip nested in zip
    add(("zip_in_zip.zip", plain_zip({"inner.zip": plain_zip({"x.pkl": system()})}), m))
    return out


# --------------------------------------------------------------------------------------------------
# Suspicious / unscannable samples
# --------------------------------------------------------------------------------------------------


def other_samples() -> list[tuple[str, bytes, str]]:
    s, un = "suspicious", "unscannable"
    return [
        ("unknown_global.pkl", p2(call(g("mypackage.models", "CustomThing"), b"K\x01")), s),
        ("main_class.pkl", p2(g("__main__", "Foo") + b")\x81"), s),
        ("builtins_type_class.pkl", p2(call(g("builtins", "type"), u("X"), b")", b"}")), s),
        ("ext_opcode.pkl", p2(b"\x82\x01" + b")R"), s),
        ("reduce_on_persid.pkl", p2(u("x") + b"Q" + b")R"), s),
        ("trailing_data.pkl", pickle.dumps([1, 2], protocol=2) + b"\x01\x02\x03 not a pickle at all \xff\xfe", s),
        ("stack_global_unresolved.pkl", p4(b"K\x01K\x02\x93"), s),
        ("pickle_with_pkl_ext_zip.pkl", plain_zip({"readme.txt": b"hello"}), s),
        ("unknown_opcode.pkl", b"\x80\x02\xff", un),
        ("protocol6.pkl", b"\x80\x06N.", un),
        ("truncated.pkl", pickle.dumps(list(range(100)), protocol=2)[:-20], un),
        ("unknown_binary.bin", b"\x00\x01\x02\x03garbage\xff" * 10, un),
        ("npy_bad_header.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n", un),
        ("encrypted_member.zip", _encrypted_zip(), un),
    ]


def _encrypted_zip() -> bytes:
    data = bytearray(plain_zip({"a.pkl": pickle.dumps(1)}, deflate=False))
    lh = data.find(b"PK\x03\x04")
    struct.pack_into("<H", data, lh + 6, 1)
    ch = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, ch + 8, 1)
    return bytes(data)


# --------------------------------------------------------------------------------------------------
# Benign samples
# --------------------------------------------------------------------------------------------------


class Color:
    """Stand-in for an enum-like class pickled by reference (module/qualname set explicitly)."""


def _training_args_pickle() -> bytes:
    """A TrainingArguments-like pickle as transformers writes to training_args.bin (hand-assembled).

    Globals mirror a real ``torch.save(TrainingArguments(...))`` from transformers 5.24 with accelerate.
    """
    enum_i = call(g("transformers.trainer_utils", "IntervalStrategy"), u("steps"))
    enum_s = call(g("transformers.trainer_utils", "SchedulerType"), u("linear"))
    enum_o = call(g("transformers.training_args", "OptimizerNames"), u("adamw_torch"))
    enum_h = call(g("transformers.trainer_utils", "HubStrategy"), u("every_save"))
    enum_save = call(g("transformers.trainer_utils", "SaveStrategy"), u("steps"))
    dist = call(g("accelerate.utils.dataclasses", "DistributedType"), u("NO"))
    state = g("accelerate.state", "PartialState") + b")\x81" + b"}" + u("distributed_type") + dist + b"sb"
    acc_cfg = g("transformers.trainer_pt_utils", "AcceleratorConfig") + b")\x81" + b"}" + u("split_batches") + b"\x89sb"
    device = call(g("torch", "device"), u("cpu"))
    state = (
        b"}("
        + u("output_dir")
        + u("out")
        + u("evaluation_strategy")
        + enum_i
        + u("lr_scheduler_type")
        + enum_s
        + u("optim")
        + enum_o
        + u("hub_strategy")
        + enum_h
        + u("save_strategy")
        + enum_save
        + u("distributed_state")
        + state
        + u("accelerator_config")
        + acc_cfg
        + u("_setup_devices")
        + device
        + u("learning_rate")
        + b"G"
        + struct.pack(">d", 5e-5)
        + u("seed")
        + b"K*"
        + b"u"
    )
    obj = g("transformers.training_args", "TrainingArguments") + b")\x81" + state + b"b"
    return p2(obj)


def _lightning_ckpt() -> bytes:
    """A Stable-Diffusion-style Lightning .ckpt (torch zip) with callback state, hand-assembled."""
    ckpt = (
        g("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")
        + b")\x81"
        + b"}"
        + u("monitor")
        + b"Ns"
        + b"b"
    )
    scalar = call(
        g("numpy.core.multiarray", "scalar"), call(g("numpy", "dtype"), u("f8"), b"\x89", b"\x88"), binbytes(b"\0" * 8)
    )
    body = (
        b"}("
        + u("epoch")
        + b"K\x06"
        + u("callbacks")
        + b"}"
        + u("ModelCheckpoint")
        + ckpt
        + b"s"
        + u("loss")
        + scalar
        + b"u"
    )
    return torch_zip({"data.pkl": p2(body)}, prefix="last")


def stdlib_values() -> Any:
    return {
        "uuid": uuid.UUID(int=1),
        "dt": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "date": datetime.date(2024, 1, 2),
        "delta": datetime.timedelta(days=1),
        "dec": decimal.Decimal("1.5"),
        "frac": fractions.Fraction(1, 3),
        "path": pathlib.PurePosixPath("/a/b"),
        "ppath": pathlib.PosixPath("/a/b"),
        "ns": argparse.Namespace(lr=0.1, epochs=3),
        "re": re.compile(r"ab+c", re.I),
        "od": collections.OrderedDict(a=1),
        "counter": collections.Counter("abca"),
        "deque": collections.deque([1, 2]),
        "set": {1, 2},
        "fs": frozenset({3}),
        "complex": 1 + 2j,
        "range": range(3),
        "slice": slice(1, 5, 2),
        "bytes": b"\x00\x01",
        "ba": bytearray(b"xy"),
        "nested": [(1, 2.5, None, True, "s")],
    }


def benign_samples(tmp: Path) -> list[tuple[str, bytes | Callable[[Path], None], str]]:
    """(name, bytes or a writer(path), 'safe'). Library-made files are skipped if the library is missing."""
    out: list[tuple[str, Any, str]] = []
    ok = "safe"
    for proto in range(6):
        out.append((f"plain_dict_p{proto}.pkl", pickle.dumps({"a": [1, 2.0, "x", None, b"b"]}, protocol=proto), ok))
        out.append((f"stdlib_values_p{proto}.pkl", pickle.dumps(stdlib_values(), protocol=proto), ok))
    out.append(("training_args_raw.bin", _training_args_pickle(), ok))
    # what transformers' Trainer writes (torch.save zip), globals as observed with transformers 5.x
    out.append(("training_args.bin", torch_zip({"data.pkl": _training_args_pickle()}, prefix="training_args"), ok))
    out.append(("legacy_tar.pt", legacy_tar(), ok))
    out.append(("lightning_sd.ckpt", _lightning_ckpt(), ok))
    out.append(("nonetype_p2.pkl", pickle.dumps([type(None), type(...), type(NotImplemented), None], protocol=2), ok))
    out.append(("nonetype_p4.pkl", pickle.dumps({"t": type(None)}, protocol=4), ok))
    out.append(("README.md", b"# Model card\n\nThis is a model.\n", ok))
    out.append(("notes.txt", b"cat\nnothing here\n", ok))
    out.append(("empty.pkl", b"", ok))
    out.append(("concat_benign.pkl", pickle.dumps(1) + pickle.dumps({"b": 2}, protocol=4), ok))
    out.append(
        ("npy_handmade_f4.npy", npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (2, 2)}, b"\0" * 16), ok)
    )

    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dev dependency
        np = None  # type: ignore[assignment]
    if np is not None:

        def npsave(arr: Any) -> Callable[[Path], None]:
            return lambda p: np.save(p, arr, allow_pickle=True)

        out.append(("np_float.npy", npsave(np.arange(12, dtype=np.float32).reshape(3, 4)), ok))
        out.append(("np_int_fortran.npy", npsave(np.asfortranarray(np.arange(6).reshape(2, 3))), ok))
        out.append(("np_struct.npy", npsave(np.zeros(3, dtype=[("a", "<f4"), ("b", "<i8", (2,))])), ok))
        out.append(("np_unicode.npy", npsave(np.array(["ab", "cde"])), ok))
        out.append(("np_object_ints.npy", npsave(np.array([1, 2, 3, None], dtype=object)), ok))
        out.append(("np_object_strs.npy", npsave(np.array(["a", {"k": 1}, (2, 3)], dtype=object)), ok))
        out.append(("np_savez.npz", lambda p: np.savez(p, a=np.arange(3), b=np.ones((2, 2))), ok))
        out.append(
            (
                "np_savez_compressed.npz",
                lambda p: np.savez_compressed(p, a=np.arange(1000), o=np.array([1, "x"], dtype=object)),
                ok,
            )
        )
        out.append(("np_pickled_array_p2.pkl", pickle.dumps(np.arange(5.0), protocol=2), ok))
        out.append(("np_pickled_array_p5.pkl", pickle.dumps(np.arange(5.0), protocol=5), ok))
        out.append(
            (
                "np_scalars.pkl",
                pickle.dumps([np.float64(1.5), np.int32(3), np.bool_(True), np.dtype("U3")], protocol=4),
                ok,
            )
        )
        out.append(
            (
                "np_rng.pkl",
                pickle.dumps([np.random.default_rng(0), np.random.RandomState(1), np.random.get_state()]),
                ok,
            )
        )
        out.append(("np_masked.pkl", pickle.dumps(np.ma.masked_array([1, 2], mask=[0, 1]), protocol=2), ok))

        def memmap_pickle(p: Path) -> None:
            import tempfile

            with tempfile.TemporaryDirectory() as d:
                mm = np.memmap(Path(d) / "m.dat", dtype="f4", mode="w+", shape=(3,))
                p.write_bytes(pickle.dumps(mm, protocol=2))
                del mm

        out.append(("np_memmap_ref.pkl", memmap_pickle, ok))

    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None  # type: ignore[assignment]
    if torch is not None:
        g_ = torch.Generator().manual_seed(0)
        sd = {
            "w": torch.randn(4, 4, generator=g_),
            "b": torch.zeros(4, dtype=torch.int64),
            "h": torch.ones(2, dtype=torch.bfloat16),
        }

        def tsave(obj: Any, **kw: Any) -> Callable[[Path], None]:
            return lambda p: torch.save(obj, p, **kw)

        out.append(("pytorch_model.bin", tsave(sd), ok))
        out.append(("state_dict.pt", tsave(collections.OrderedDict(sd)), ok))
        out.append(("state_dict_legacy.pt", tsave(sd, _use_new_zipfile_serialization=False), ok))
        out.append(("state_dict_p4.pt", tsave(sd, pickle_protocol=4), ok))
        q = torch.quantize_per_tensor(torch.randn(4, generator=g_), 0.1, 0, torch.quint8)
        qc = torch.quantize_per_channel(
            torch.randn(2, 4, generator=g_), torch.tensor([0.1, 0.2]), torch.tensor([0, 0]), 0, torch.qint8
        )
        sparse = {"coo": torch.eye(3).to_sparse(), "csr": torch.eye(3).to_sparse_csr()}
        out.append(("quantized.pt", tsave({"q": q, "qc": qc}), ok))
        out.append(("sparse.pt", tsave(sparse), ok))
        out.append(("quantized_legacy.pt", tsave({"q": q}, _use_new_zipfile_serialization=False), ok))
        out.append(("module_linear.pt", tsave(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())), ok))
        out.append(("parameter.pt", tsave({"p": torch.nn.Parameter(torch.ones(2))}), ok))
        out.append(
            ("dtypes_devices.pt", tsave({"d": torch.float16, "dev": torch.device("cpu"), "s": torch.Size([2, 3])}), ok)
        )
        out.append(
            (
                "rng_state.pth",
                tsave(
                    {
                        "python": __import__("random").Random(0).getstate(),
                        "numpy": np.random.RandomState(0).get_state() if np is not None else None,
                        "cpu": torch.random.get_rng_state(),
                    }
                ),
                ok,
            )
        )
        out.append(
            (
                "optimizer.pt",
                tsave({"state": {0: {"step": torch.tensor(1.0)}}, "param_groups": [{"lr": 0.1, "params": [0]}]}),
                ok,
            )
        )

        class TinyNet(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.l = torch.nn.Linear(2, 2)
                self.register_buffer("c", torch.ones(2))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.l(x) * 2 + self.c

        out.append(("torchscript.pt", lambda p: torch.jit.save(torch.jit.script(TinyNet()), p), ok))
        out.append(
            ("exported.pt2", lambda p: torch.export.save(torch.export.export(TinyNet(), (torch.ones(1, 2),)), p), ok)
        )
        out.append(
            ("torchscript_traced.pt", lambda p: torch.jit.save(torch.jit.trace(TinyNet(), torch.ones(1, 2)), p), ok)
        )

    try:
        import joblib
        import sklearn  # noqa: F401
        from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler
        from sklearn.tree import DecisionTreeRegressor
    except ImportError:  # pragma: no cover
        joblib = None  # type: ignore[assignment]
    if joblib is not None and np is not None:
        rs = np.random.RandomState(0)
        x, y = rs.rand(40, 3), (rs.rand(40) > 0.5).astype(int)
        models = {
            "logreg": LogisticRegression().fit(x, y),
            "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
            "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
            "tree": DecisionTreeRegressor(random_state=0).fit(x, y),
            "knn": KNeighborsClassifier(n_neighbors=3).fit(x, y),
            "hgb": HistGradientBoostingClassifier(max_iter=3).fit(x, y),
            "log1p": make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(x, y),
            "tfidf": TfidfVectorizer().fit(["alpha beta", "beta gamma", "delta"]),
            "tfidf_matrix": TfidfVectorizer().fit_transform(["alpha beta", "beta gamma"]),
        }
        for key, model in models.items():
            out.append((f"sklearn_{key}.pkl", pickle.dumps(model, protocol=5), ok))
            out.append((f"sklearn_{key}_p2.pkl", pickle.dumps(model, protocol=2), ok))
            out.append((f"sklearn_{key}.joblib", (lambda mdl: lambda p: joblib.dump(mdl, p))(model), ok))
        out.append(("sklearn_forest_z3.joblib", lambda p: joblib.dump(models["forest"], p, compress=3), ok))
        out.append(
            ("sklearn_pipeline_gz.joblib", lambda p: joblib.dump(models["pipeline"], p, compress=("gzip", 3)), ok)
        )
        out.append(
            (
                "joblib_arrays.joblib",
                lambda p: joblib.dump(
                    {"a": np.arange(100.0), "o": np.array([1, "x"], dtype=object), "u": np.array(["ab"])}, p
                ),
                ok,
            )
        )
        out.append(
            (
                "joblib_arrays_z.joblib",
                lambda p: joblib.dump(
                    {"a": np.arange(100.0), "s": np.zeros(3, dtype=[("a", "<f4")])}, p, compress=True
                ),
                ok,
            )
        )
    return out


# --------------------------------------------------------------------------------------------------


def corpus_index() -> list[tuple[str, str]]:
    """(file name, expected label) of every sample, in ``build_corpus`` order, without writing anything."""
    samples = [*malicious_samples(), *other_samples(), *benign_samples(Path("."))]
    return [(name, label) for name, _, label in samples]


def build_corpus(dirpath: Path | str) -> list[tuple[Path, str]]:
    """Write every sample under ``dirpath``; return (file, expected verdict label)."""
    root = Path(dirpath)
    root.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, str]] = []
    samples: list[tuple[str, Any, str]] = [*malicious_samples(), *other_samples(), *benign_samples(root)]
    for name, content, label in samples:
        target = root / label / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(target)
            if not target.exists():  # np.save/np.savez append their own extension
                for cand in target.parent.glob(target.name + ".*"):
                    cand.rename(target)
        else:
            target.write_bytes(content)
        out.append((target, label))
    return out
