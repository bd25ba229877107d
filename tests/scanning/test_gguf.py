"""GGUF metadata scanning and the static Jinja chat-template analysis (CVE-2024-34359 class)."""

from __future__ import annotations

import struct

import pytest

from scanning.scanners import gguf, jinja
from scanning.scanners.base import FileReader, ScanContext, Verdict, verdict_of
from tests.scanning.corpus_formats import BENIGN_TEMPLATES, SSTI_TEMPLATES, rules, run, write_gguf


def worst(template: str) -> Verdict:
    return max((i.verdict for i in jinja.analyse(template)), default=Verdict.SAFE)


@pytest.mark.parametrize("name", sorted(BENIGN_TEMPLATES))
def test_real_chat_templates_are_safe(name):
    assert jinja.analyse(BENIGN_TEMPLATES[name]) == []


@pytest.mark.parametrize("name", sorted(SSTI_TEMPLATES))
def test_ssti_templates_are_malicious(name):
    issues = jinja.analyse(SSTI_TEMPLATES[name])
    assert worst(SSTI_TEMPLATES[name]) == Verdict.MALICIOUS, issues
    assert all(i.category.value in ("code-execution", "obfuscation") for i in issues)


@pytest.mark.parametrize(
    "template",
    [
        "{{ x|attr(name) }}",
        "{% set a = '_' * 2 %}{{ ()|attr(a ~ 'class' ~ a) }}",
        "{{ ''['__cla' + 'ss__'] }}",
        "{{ ()['\\u005f\\u005fclass\\u005f\\u005f'] }}",
        "{{ ()['\\137\\137class\\137\\137'] }}",
        "{{ x['__globals__'] }}",
        "{{ config.items() }}",
        "{{ url_for.__globals__.os }}",
        "{{ get_flashed_messages.__globals__ }}",
        "{% raw %}ok{% endraw %}{{ self.__init__ }}",
        "{{ ''.__class__ }",  # unterminated but still analysed
        "{%- for m in messages -%}{{- m.__class__ -}}{%- endfor -%}",
    ],
)
def test_bypass_variants_are_malicious(template):
    assert worst(template) == Verdict.MALICIOUS


@pytest.mark.parametrize(
    "template",
    [
        "{{ messages|map(attribute='content')|join('\\n') }}",
        "{% if message['role'] == 'system' %}{{ message['content'] }}{% endif %}",
        "{# {{ ''.__class__ }} is only a comment #}{{ bos_token }}",
        "{% raw %}{{ ''.__class__ }}{% endraw %}",
        "{{ '<__media__>' }}{{ tools | tojson(indent=2) }}",
        "{{ message.content | trim | replace('\\n', ' ') }}{{ loop.last }}",
        "{% set ns = namespace(system_prompt='') %}{% set ns.system_prompt = messages[0].content %}",
        "{{ self.blockname() }}",
    ],
)
def test_benign_constructs_are_safe(template):
    assert worst(template) == Verdict.SAFE, jinja.analyse(template)


def test_attr_with_plain_literal_is_only_suspicious():
    assert worst("{{ message|attr('content') }}") == Verdict.SUSPICIOUS


def test_obfuscation_pieces_are_suspicious():
    assert worst("{{ '%c%c'|format(95, 95) }}") >= Verdict.SUSPICIOUS
    assert worst("{{ '_' * 2 }}") == Verdict.SUSPICIOUS
    assert worst("{{ '_' }}") == Verdict.SAFE


def test_unterminated_block_is_suspicious():
    issues = jinja.analyse("{{ bos_token ")
    assert {i.rule for i in issues} == {"jinja.syntax"}


def test_oversized_template_is_unscannable():
    assert worst("x" * (jinja.MAX_TEMPLATE_CHARS + 1)) == Verdict.UNSCANNABLE


# --------------------------------------------------------------------------- GGUF container


@pytest.mark.parametrize("name", sorted(BENIGN_TEMPLATES))
def test_real_gguf_files_are_safe(tmp_path, name):
    path = tmp_path / f"{name}.gguf"
    write_gguf(path, BENIGN_TEMPLATES[name])
    ctx = ScanContext()
    with FileReader(path) as reader:
        gguf.scan(reader, ctx)
    assert ctx.findings == []


def test_gguf_template_ssti_is_malicious(tmp_path):
    path = tmp_path / "evil.gguf"
    write_gguf(path, SSTI_TEMPLATES["llama_cpp_cve"])
    ctx = ScanContext()
    with FileReader(path) as reader:
        gguf.scan(reader, ctx)
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS
    assert "jinja.ssti.dunder" in rules(ctx)
    assert all(f.message.startswith("GGUF tokenizer.chat_template") for f in ctx.findings)


def test_named_chat_template_is_analysed(tmp_path):
    path = tmp_path / "named.gguf"
    write_gguf(path, BENIGN_TEMPLATES["llama3"], extra={"tokenizer.chat_template.rag": SSTI_TEMPLATES["dict_join"]})
    ctx = ScanContext()
    with FileReader(path) as reader:
        gguf.scan(reader, ctx)
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS
    assert any("tokenizer.chat_template.rag" in f.message for f in ctx.findings)


def _kv_string(key: str, value: str) -> bytes:
    k, v = key.encode(), value.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<I", 8) + struct.pack("<Q", len(v)) + v


def _gguf(kvs: list[bytes], version: int = 3, n_tensors: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(kvs)) + b"".join(kvs)


def test_duplicate_key_smuggling_is_flagged():
    data = _gguf(
        [_kv_string("tokenizer.chat_template", "{{ x }}"), _kv_string("tokenizer.chat_template", "{{ x.__class__ }}")]
    )
    ctx = run(gguf.scan, data)
    assert {"gguf.metadata.duplicate_key", "jinja.ssti.dunder"} <= rules(ctx)


def test_gguf_v1_layout():
    key, value = b"general.name", b"tiny"
    kv = struct.pack("<I", len(key)) + key + struct.pack("<I", 8) + struct.pack("<I", len(value)) + value
    data = b"GGUF" + struct.pack("<III", 1, 0, 1) + kv
    assert run(gguf.scan, data).findings == []


def test_arrays_of_all_types_are_skipped_by_size():
    arr = b"tokenizer.ggml.scores"
    body = (
        struct.pack("<Q", len(arr))
        + arr
        + struct.pack("<I", 9)
        + struct.pack("<IQ", 6, 3)
        + struct.pack("<3f", 0, 1, 2)
    )
    strs = b"tokenizer.ggml.tokens"
    body2 = struct.pack("<Q", len(strs)) + strs + struct.pack("<I", 9) + struct.pack("<IQ", 8, 2)
    body2 += struct.pack("<Q", 1) + b"a" + struct.pack("<Q", 2) + b"bc"
    assert run(gguf.scan, _gguf([body, body2])).findings == []


@pytest.mark.parametrize(
    ("data", "rule", "verdict"),
    [
        (b"GGML" + bytes(20), "gguf.header.magic", Verdict.UNSCANNABLE),
        (b"GGUF\x07\x00\x00\x00" + bytes(16), "gguf.header.version", Verdict.UNSCANNABLE),
        (b"GGUF\x03\x00", "gguf.header.malformed", Verdict.UNSCANNABLE),
        # issue 10 B: counts/lengths no writer produces are format abuse (malicious), not "unscannable"
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**40), "gguf.header.abuse", Verdict.MALICIOUS),
        (
            b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**62),
            "gguf.header.abuse",
            Verdict.MALICIOUS,
        ),
        (_gguf([struct.pack("<Q", 1) + b"k" + struct.pack("<I", 77)]), "gguf.header.malformed", Verdict.UNSCANNABLE),
        (
            _gguf([struct.pack("<Q", 1) + b"k" + struct.pack("<I", 9) + struct.pack("<IQ", 6, 2**40)]),
            "gguf.header.abuse",
            Verdict.MALICIOUS,
        ),
        (
            _gguf([struct.pack("<Q", 17) + b"general.alignment" + struct.pack("<II", 4, 3)]),
            "gguf.header.malformed",
            Verdict.UNSCANNABLE,
        ),
        (
            _gguf([struct.pack("<Q", 23) + b"tokenizer.chat_template" + struct.pack("<II", 4, 1)]),
            "gguf.chat_template.type",
            Verdict.SUSPICIOUS,
        ),
    ],
)
def test_malformed_headers(data, rule, verdict):
    ctx = run(gguf.scan, data)
    assert rule in rules(ctx)
    assert verdict_of(ctx.findings) == verdict


def _tensor(name: str, dims: list[int], ttype: int, offset: int) -> bytes:
    n = name.encode()
    return (
        struct.pack("<Q", len(n))
        + n
        + struct.pack("<I", len(dims))
        + struct.pack(f"<{len(dims)}Q", *dims)
        + struct.pack("<IQ", ttype, offset)
    )


def _with_tensors(tensors: list[bytes], data_len: int) -> bytes:
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 0) + b"".join(tensors)
    head += bytes(-len(head) % 32)
    return head + bytes(data_len)


@pytest.mark.parametrize(
    ("tensors", "data_len", "rule"),
    [
        ([_tensor("a", [8], 0, 0), _tensor("b", [8], 0, 0)], 64, "gguf.tensor.overlap"),
        ([_tensor("a", [8], 0, 0), _tensor("a", [8], 0, 32)], 64, "gguf.tensor.invalid"),
        ([_tensor("a", [8], 99, 0)], 64, "gguf.tensor.invalid"),
        ([_tensor("a", [8], 0, 3)], 64, "gguf.tensor.invalid"),
        ([_tensor("a", [31], 2, 0)], 64, "gguf.tensor.invalid"),
        ([_tensor("a", [1024], 0, 0)], 64, "gguf.data.out_of_bounds"),
    ],
)
def test_tensor_info_abuse(tensors, data_len, rule):
    ctx = run(gguf.scan, _with_tensors(tensors, data_len))
    assert rule in rules(ctx)
    assert verdict_of(ctx.findings) == Verdict.SUSPICIOUS


def test_valid_tensor_infos_are_safe():
    assert run(gguf.scan, _with_tensors([_tensor("a", [8], 0, 0), _tensor("b", [32], 2, 32)], 64)).findings == []


def test_truncated_real_file_is_not_safe(tmp_path):
    path = tmp_path / "t.gguf"
    write_gguf(path, BENIGN_TEMPLATES["chatml"])
    data = path.read_bytes()
    for cut in range(0, len(data), 37):
        ctx = run(gguf.scan, data[:cut])
        assert verdict_of(ctx.findings) >= Verdict.SUSPICIOUS, cut


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''['__CLASS__'|lower] }}",
        "{{ ''['__ssalc__'|reverse] }}",
        "{{ ()|attr('%c%c%c%c%c%c%c%c%c'|format(95, 95, 99, 108, 97, 115, 115, 95, 95)) }}",
        "{{ ()['%c%cclass%c%c'|format(95, 95, 95, 95)] }}",
        "{% set a = '__cla' %}{% set b = 'ss__' %}{{ ()[a ~ b] }}",
        "{{ ()['\\N{LOW LINE}\\N{LOW LINE}class\\N{LOW LINE}\\N{LOW LINE}'] }}",
    ],
)
def test_encoded_dunders_are_malicious(template):
    assert worst(template) == Verdict.MALICIOUS, jinja.analyse(template)


def test_format_with_huge_width_is_not_evaluated():
    assert worst("{{ '%999999999c'|format(95) }}") >= Verdict.SUSPICIOUS


@pytest.mark.parametrize(
    "template",
    [
        "{{ tool.name|replace('-', '_') }}",
        "{{ 'Answer with 100% confidence' }}",
        "{{ '%-10s|%5d'|format(name, n) }}",
        "{% macro render(m) %}{{ m.content }}{% endmacro %}{% for m in messages %}{{ render(m) }}{% endfor %}",
        "{{ messages|selectattr('role', 'equalto', 'user')|list|length }}",
        "{{ loop.cycle('odd', 'even') if loop is defined else '' }}{{ x|dictsort }}",
        "{% filter upper %}{{ bos_token }}{% endfilter %}",
        "{{ message['content'] if message['content'] is string else message['content'][0]['text'] }}",
    ],
)
def test_more_benign_constructs_are_safe(template):
    assert worst(template) == Verdict.SAFE, jinja.analyse(template)


@pytest.mark.parametrize("template", ["{{ '_' * 2 ~ 'x' }}", "{{ '%c%c'|format(1, 2) }}", "{{ '%c'|format(97) }}"])
def test_character_assembly_is_suspicious(template):
    assert worst(template) >= Verdict.SUSPICIOUS
