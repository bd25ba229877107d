"""Pickle globals are judged by what they really are, and loader-crashing streams are format abuse.

Attack streams are hand-assembled opcodes with harmless payloads (``echo``); they are only scanned, never loaded.
"""

from __future__ import annotations

import importlib
import json
import struct

import pytest

from scanning.scanners.base import BytesReader, Category, ScanContext, Verdict, verdict_of
from scanning.scanners.pickle import looks_like_pickle, scan
from scanning.scanners.pickle_rules import INVENTORY_PATH, Decision, classify
from scanning.scanners.router import scan_reader
from tests.scanning.corpus_pickle import call, legacy_torch, p2, p4, sg, tup, u
from tests.scanning.corpus_real import attack_samples


def run(data: bytes) -> ScanContext:
    ctx = ScanContext()
    scan(BytesReader(data), ctx)
    return ctx


def verdict(data: bytes) -> Verdict:
    return verdict_of(run(data).findings)


# -- re-exports: a trusted package path does not make a dangerous object inert ---------------------------------

REEXPORTS = [
    # (module a pickle names, name, what it really is, category)
    ("sklearn.datasets._base", "NamedTemporaryFile", "tempfile.NamedTemporaryFile", Category.FILESYSTEM),
    ("sklearn.datasets._covtype", "TemporaryDirectory", "tempfile.TemporaryDirectory", Category.FILESYSTEM),
    ("sklearn.datasets._base", "makedirs", "os.makedirs", Category.FILESYSTEM),
    ("sklearn.datasets._lfw", "Memory", "joblib.memory.Memory", Category.FILESYSTEM),
    ("sklearn.callback._transport", "Listener", "multiprocessing.connection.Listener", Category.NETWORK),
    # a function of the multiprocessing package: the denylist files that whole package under process
    ("sklearn.callback._transport", "Client", "multiprocessing.connection.Client", Category.PROCESS),
    ("sklearn.callback._progressbar", "Thread", "threading.Thread", Category.PROCESS),
    ("sklearn.datasets._openml", "urlopen", "urllib.request.urlopen", Category.NETWORK),
    ("lightgbm.basic", "NamedTemporaryFile", "tempfile.NamedTemporaryFile", Category.FILESYSTEM),
]


@pytest.mark.parametrize(("module", "name", "real", "category"), REEXPORTS, ids=[f"{m}.{n}" for m, n, *_ in REEXPORTS])
def test_reexport_of_dangerous_object_is_denied_with_its_real_identity(
    module: str, name: str, real: str, category: Category
) -> None:
    # the library really re-exports it (the test may import; the scanner never does)
    obj = getattr(importlib.import_module(module), name)
    assert f"{obj.__module__}.{obj.__qualname__}".replace("posix.", "os.") == real
    cls = classify(module, name)
    assert cls.decision is Decision.DENY
    assert cls.category is category
    assert real in cls.reason
    ctx = run(p4(call(sg(module, name), u("/tmp/modelgate-test"))))
    assert verdict_of(ctx.findings) is Verdict.MALICIOUS
    hit = [f for f in ctx.findings if f.rule == "pickle.global.denied"]
    assert hit and real in hit[0].message, ctx.findings


def test_camelcase_name_under_sklearn_is_not_allowed_by_its_look() -> None:
    # not a real sklearn object: unknown, so suspicious (the unpickler would import whatever is there)
    assert classify("sklearn.linear_model", "TotallyNewEstimator").decision is Decision.UNKNOWN
    assert classify("sklearn.utils", "__pyx_unpickle_Whatever").decision is Decision.UNKNOWN
    assert verdict(p4(call(sg("sklearn.linear_model", "TotallyNewEstimator")))) is Verdict.SUSPICIOUS


def test_real_estimators_and_modules_are_allowed_as_what_they_are() -> None:
    for module, name in [
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.linear_model", "LogisticRegression"),
        ("sklearn.tree._tree", "Tree"),
        ("torch.nn.modules.linear", "Linear"),
        ("torch.optim.adamw", "AdamW"),
        ("pandas.core.frame", "DataFrame"),
        ("lightgbm.basic", "Booster"),
        ("xgboost.core", "Booster"),
    ]:
        cls = classify(module, name)
        assert cls.decision is Decision.ALLOW, (module, name, cls)
        assert cls.real, (module, name)


def test_inventory_deny_entries_match_the_installed_libraries() -> None:
    """Every denied re-export in the checked-in inventory still is what the inventory says (for installed libs)."""
    data = json.loads(INVENTORY_PATH.read_text())
    checked = 0
    for key, (decision, _kind, real) in data["entries"].items():
        if decision != "deny" or real.startswith("instance of"):
            continue
        module, name = key.split(":")
        if not module.startswith(("sklearn.datasets", "sklearn.callback", "lightgbm.basic")):
            continue
        obj = getattr(importlib.import_module(module), name)
        qualname = getattr(obj, "__qualname__", None) or obj.__name__
        assert f"{obj.__module__}:{qualname}" == real, key
        checked += 1
    assert checked >= 20


# -- stdlib and torch values that pickle through unusual paths -----------------------------------------------


def test_getattr_resolving_to_an_allowed_attribute_is_not_a_gadget() -> None:
    # zoneinfo.ZoneInfo pickles exactly like this
    data = p4(call(call(sg("builtins", "getattr"), sg("zoneinfo", "ZoneInfo"), u("_unpickle")), u("UTC"), b"K\x01"))
    assert verdict(data) is Verdict.SAFE, run(data).findings


def test_getattr_to_a_dangerous_method_of_an_allowed_instance_is_malicious() -> None:
    # pathlib.Path(...).write_text(...) through getattr on an instance: the instance class is allowed, the method not
    path = call(sg("pathlib", "PosixPath"), u("/tmp/x"))
    data = p4(call(call(sg("builtins", "getattr"), path, u("write_text")), u("echo hi")))
    ctx = run(data)
    assert verdict_of(ctx.findings) is Verdict.MALICIOUS
    assert any("write_text" in f.message for f in ctx.findings), ctx.findings


def test_getattr_on_something_unresolvable_stays_malicious() -> None:
    data = p4(call(call(sg("builtins", "getattr"), call(sg("builtins", "dict")), call(sg("builtins", "str"))), u("x")))
    ctx = run(data)
    assert verdict_of(ctx.findings) is Verdict.MALICIOUS
    assert any(f.rule == "pickle.global.denied" and "getattr" in f.message for f in ctx.findings)


def test_load_from_bytes_of_a_literal_is_judged_by_its_content() -> None:
    benign_inner = legacy_torch(p2(b"}q\x00"))
    bad_inner = legacy_torch(p2(call(sg("os", "system"), u("echo hi"))))
    ok = p4(call(sg("torch.storage", "_load_from_bytes"), b"C" + bytes([len(benign_inner)]) + benign_inner))
    assert verdict(ok) is Verdict.SAFE, run(ok).findings
    bad = p4(call(sg("torch.storage", "_load_from_bytes"), b"B" + struct.pack("<I", len(bad_inner)) + bad_inner))
    assert verdict(bad) is Verdict.MALICIOUS


def test_load_from_bytes_of_a_computed_argument_is_malicious() -> None:
    data = p4(call(sg("torch.storage", "_load_from_bytes"), call(sg("builtins", "bytes"), u("x"))))
    ctx = run(data)
    assert verdict_of(ctx.findings) is Verdict.MALICIOUS
    assert any(f.rule == "pickle.global.denied" and "_load_from_bytes" in f.message for f in ctx.findings)


def test_legacy_module_persistent_id_is_judged_as_its_class() -> None:
    def module_pid(module: str, name: str) -> bytes:
        return tup(u("module"), sg(module, name), u("/x.py"), u("class X: pass")) + b"Q"

    ok = p4(module_pid("torch.nn.modules.linear", "Linear") + b")\x81}b")
    assert verdict(ok) is Verdict.SAFE, run(ok).findings
    bad = p4(module_pid("os", "system") + tup(u("echo hi")) + b"R")
    assert verdict(bad) is Verdict.MALICIOUS


def test_build_with_inert_dunder_keys_is_not_a_hijack_but_setstate_is() -> None:
    obj = sg("numpy", "vectorize") + b")\x81"
    ok = p4(obj + b"}(" + u("__doc__") + u("doc") + u("__name__") + u("f") + b"ub")
    assert verdict(ok) is Verdict.SAFE, run(ok).findings
    bad = p4(obj + b"}" + u("__setstate__") + sg("os", "system") + b"sb")
    ctx = run(bad)
    assert verdict_of(ctx.findings) is Verdict.MALICIOUS
    assert "pickle.build.dunder" in {f.rule for f in ctx.findings}


# -- streams that exist to crash or exhaust the loader --------------------------------------------------------


def abuse_rules(data: bytes) -> set[str]:
    ctx = run(data)
    assert verdict_of(ctx.findings) is Verdict.MALICIOUS, ctx.findings
    return {f.rule for f in ctx.findings if f.category is Category.FORMAT_ABUSE}


def test_frame_claiming_2_63_bytes_is_format_abuse() -> None:
    assert "pickle.abuse.frame" in abuse_rules(b"\x80\x04\x95" + struct.pack("<Q", 2**63) + u("a") + b"\x94.")


def test_frame_abuse_does_not_hide_the_payload_after_it() -> None:
    data = b"\x80\x04\x95" + struct.pack("<Q", 2**63 - 1) + call(sg("os", "system"), u("echo hi")) + b"."
    ctx = run(data)
    assert {"pickle.abuse.frame", "pickle.global.denied"} <= {f.rule for f in ctx.findings}


def test_long_binput_ffffffff_is_format_abuse() -> None:
    assert "pickle.abuse.memo" in abuse_rules(b"\x80\x04" + u("a") + b"r" + struct.pack("<I", 0xFFFFFFFF) + b".")


def test_text_put_with_a_huge_index_is_format_abuse() -> None:
    assert "pickle.abuse.memo" in abuse_rules(b"S'a'\np99999999999\n.")


def test_binbytes8_claiming_a_petabyte_is_format_abuse() -> None:
    assert "pickle.abuse.size" in abuse_rules(b"\x80\x04\x8e" + struct.pack("<Q", 2**50) + b"abc.")


def test_memo_overwrite_cannot_launder_a_denied_global() -> None:
    # memo 1 first holds an allowed class, then os.system; the GET returns what the real unpickler would
    data = p4(
        sg("collections", "OrderedDict") + b"q\x010" + sg("os", "system") + b"q\x01h\x01" + u("echo hi") + b"\x85R"
    )
    assert verdict(data) is Verdict.MALICIOUS


def test_real_frames_and_memo_are_not_abuse() -> None:
    import pickle

    big = {f"k{i}": [f"v{j}" for j in range(20)] for i in range(600)}  # several frames, ~12000 memo entries
    for proto in (0, 1, 2, 4, 5):
        assert verdict(pickle.dumps(big, protocol=proto)) is Verdict.SAFE


# -- protocol 0/1 and PROTO-less streams are sniffed from the opcodes, not the header -------------------------

SNIFFED = {
    "p0 global": b"cos\nsystem\n(S'echo hi'\ntR.",
    "p0 long first string": b"S'" + b"A" * 200_000 + b"'\np0\n0cos\nsystem\n(S'echo hi'\ntR.",
    "p0 unicode first": b"Vhello\np0\n0cos\nsystem\n(Vecho hi\ntR.",
    "p1 binstring first": b"U\x05hello0cos\nsystem\n(U\x07echo hitR.",
    "p4 opcodes without PROTO": u("hello") + b"0" + sg("os", "system") + u("echo hi") + b"\x85R.",
    "FRAME without PROTO": b"\x95\x1e" + b"\x00" * 7 + sg("os", "system") + u("echo hi") + b"\x85R.",
}


@pytest.mark.parametrize("name", list(SNIFFED))
def test_protoless_pickles_are_routed_to_the_pickle_scanner(name: str) -> None:
    data = SNIFFED[name]
    result = scan_reader(BytesReader(data), "notes.bin")
    assert result.format == "pickle"
    assert result.verdict is Verdict.MALICIOUS, result.findings
    assert looks_like_pickle(data[:64], BytesReader(data))


@pytest.mark.parametrize(
    "text",
    [
        b"Some readme text\nwith lines\n",
        b"Vocabulary list\nalpha\nbeta\n",
        b"I like pickles\n",
        b"(this is a parenthesis)\n",
        b"S'quoted' but then prose follows\nand more\n",
        b"Licensed under the Apache License\n" * 50,
    ],
)
def test_plain_text_is_not_sniffed_as_pickle(text: bytes) -> None:
    assert not looks_like_pickle(text[:64], BytesReader(text))
    assert scan_reader(BytesReader(text), "README.txt").format == "text"


# -- the attack half of the shared real-library corpus (also used by the detection bench) ---------------------

ATTACKS = attack_samples()


@pytest.mark.parametrize(("name", "data", "label"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_corpus_attack_is_malicious(name: str, data: bytes, label: str) -> None:
    result = scan_reader(BytesReader(data), name)
    assert result.verdict.label == label, (result.format, result.findings)


def test_partial_wraps_are_judged_by_what_they_wrap() -> None:
    ok = p4(call(sg("functools", "partial"), sg("sklearn.metrics._classification", "fbeta_score")))
    assert verdict(ok) is Verdict.SAFE, run(ok).findings
    assert verdict(p4(call(sg("functools", "partial"), sg("os", "system"), u("echo hi")))) is Verdict.MALICIOUS
    # calling the partial object inside the pickle is an indirect call
    called = p4(call(call(sg("functools", "partial"), sg("builtins", "print")), u("x")))
    assert "pickle.call.indirect" in {f.rule for f in run(called).findings}
