"""Chat templates judged on Jinja2's AST: published templates are safe, published SSTI techniques are not.

The benign corpus is ``tests/scanning/data/chat_templates/*.jinja``: the chat templates of published models
(sources in ``SOURCES``). The attack cases follow published SSTI techniques (PayloadsAllTheThings' Jinja2
section, the llama-cpp-python CVE-2024-34359 template, HackTricks' filter-bypass list) with harmless
payloads (``id``, ``touch``).
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest

from scanning.scanners import jinja, remote_code, scan_reader
from scanning.scanners.base import BytesReader, Verdict, verdict_of
from tests.scanning.corpus_formats import rules, run, write_gguf

DATA = Path(__file__).parent / "data" / "chat_templates"
CORPUS = sorted(DATA.glob("*.jinja"))


def worst(template: str) -> Verdict:
    return max((i.verdict for i in jinja.analyse(template)), default=Verdict.SAFE)


def sources() -> dict[str, str]:
    out = {}
    for line in (DATA / "SOURCES").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, rest = line.split(None, 1)
            out[name] = rest
    return out


def test_corpus_is_large_and_documented():
    listed = sources()
    assert len(CORPUS) >= 40
    assert {p.name for p in CORPUS} == set(listed)
    families = {p.name.split("-")[0].split(".")[0].rstrip("0123456789") for p in CORPUS}
    assert len(families) >= 30, sorted(families)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_published_template_is_safe(path):
    template = path.read_text()
    # a real template: parses with plain Jinja2 too (parse only: nothing is rendered)
    jinja2.Environment(extensions=["jinja2.ext.loopcontrols"], autoescape=True).parse(template)
    assert jinja.analyse(template) == []
    as_config = json.dumps({"chat_template": template, "tokenizer_class": "PreTrainedTokenizerFast"}).encode()
    assert run(remote_code.scan_json, as_config, "tokenizer_config.json").findings == []
    result = scan_reader(BytesReader(template.encode()), "chat_template.jinja")
    assert result.format == "jinja"
    assert result.findings == []


def test_published_templates_in_named_list_and_gguf(tmp_path):
    named = [{"name": p.stem, "template": p.read_text()} for p in CORPUS[:8]]
    ctx = run(remote_code.scan_json, json.dumps({"chat_template": named}).encode(), "tokenizer_config.json")
    assert ctx.findings == []
    path = tmp_path / "m.gguf"
    write_gguf(path, (DATA / "llama-3.1-json-tools.jinja").read_text())
    from scanning.scanners import scan_file

    assert scan_file(path).findings == []


ATTACKS = {
    # PayloadsAllTheThings / HackTricks Jinja2 SSTI, harmless commands
    "cycler_globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "mro_subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "attr_concat": "{{ ''|attr('__cla'~'ss__') }}",
    "request_attr_chain": "{{ request|attr('application')|attr('\\x5f\\x5fglobals\\x5f\\x5f') }}",
    "lipsum_globals": "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "lipsum_globals_item": "{{ lipsum['__globals__'] }}",
    "joiner_builtins": "{{ joiner.__init__.__globals__.__builtins__.__import__('os').system('id') }}",
    "namespace_globals": "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "format_c": "{{ ()|attr('%c%c%c%c%c%c%c%c%c'|format(95, 95, 99, 108, 97, 115, 115, 95, 95)) }}",
    "format_c_subscript": "{{ ()['%c%cclass%c%c'|format(95, 95, 95, 95)] }}",
    "mod_operator": "{{ ()['%c%cclass%c%c' % (95, 95, 95, 95)] }}",
    "str_format_method": "{{ ()['{}{}class{}{}'.format('_', '_', '_', '_')] }}",
    "format_field_attr": "{{ '{0.__class__.__base__}'.format(x) }}",
    "dict_join": "{{ ()[dict(__cla=1, ss__=1)|join] }}",
    "list_join": "{{ ()[['_', '_', 'class', '_', '_']|join] }}",
    "reverse": "{{ ''['__ssalc__'|reverse] }}",
    "lower": "{{ ''['__CLASS__'|lower] }}",
    "slice": "{{ ''['x__class__x'[1:-1]] }}",
    "replace": "{{ ''['__clXss__'|replace('X', 'a')] }}",
    "underscore_mul": "{{ ()|attr('_' * 2 ~ 'class' ~ '_' * 2) }}",
    "set_vars": "{% set a = '__cla' %}{% set b = 'ss__' %}{{ ()[a ~ b] }}",
    "set_underscores": "{% set u = '_' * 2 %}{{ ()|attr(u ~ 'class' ~ u) }}",
    "namespace_build": "{% set n = namespace(s='__cla') %}{% set n.s = n.s ~ 'ss__' %}{{ ()[n.s] }}",
    "loop_pieces": "{% for p in ['__glo', '__cla'] %}{{ lipsum[p ~ 'bals__'] }}{% endfor %}",
    "macro_param": "{% macro g(o, n) %}{{ o|attr(n) }}{% endmacro %}{{ g(lipsum, 'x') }}",
    "computed_attr": "{{ x|attr(name) }}",
    "unknown_middle": "{{ x['__' ~ name ~ '__'] }}",
    "map_attr_filter": "{{ [lipsum]|map('attr', '__globals__')|list }}",
    "map_attribute": "{{ [lipsum]|map(attribute='__globals__')|list }}",
    "selectattr_path": "{{ [x]|selectattr('__class__.__base__')|list }}",
    "sort_attribute": "{{ [x]|sort(attribute='__class__') }}",
    "template_reference": "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id') }}",
    "func_globals": "{{ f.func_globals }}",
    "gi_frame": "{{ gen.gi_frame.f_back.f_globals }}",
    "config_items": "{{ config.items() }}",
    "url_for_globals": "{{ url_for.__globals__['current_app'].config }}",
    "llama_cpp_cve_2024_34359": (
        '{% for x in ().__class__.__base__.__subclasses__() %}{% if "warning" in x.__name__ %}'
        "{{x()._module.__builtins__['__import__']('os').popen(\"touch /tmp/retr0reg\")}}{%endif%}{% endfor %}"
    ),
    "hidden_in_real_template": (DATA / "qwen2.5-instruct.jinja").read_text()
    + "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "unparseable_but_dunder": "{{ ''.__class__ }",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_published_technique_is_malicious(name):
    issues = jinja.analyse(ATTACKS[name])
    assert worst(ATTACKS[name]) == Verdict.MALICIOUS, issues
    top = [i for i in issues if i.verdict == Verdict.MALICIOUS]
    assert all(i.category.value == "code-execution" and i.severity.value == "critical" for i in top)
    assert all(i.evidence.startswith("line ") for i in top) or name == "unparseable_but_dunder"


@pytest.mark.parametrize(
    "template",
    [
        "{{ '%c'|format(97) }}",
        "{{ '_' * 2 }}",
        "{{ (lipsum|string)[0] }}",
        "{{ (cycler|string|list)[1] }}",
        "{{ message|attr('content') }}",
        "{% include 'other.jinja' %}",
        "{{ x._private }}",
    ],
)
def test_building_blocks_are_suspicious(template):
    assert worst(template) == Verdict.SUSPICIOUS, jinja.analyse(template)


@pytest.mark.parametrize(
    "template",
    [
        # a namespace attribute named like a process call is just data
        "{% set ns = namespace(system='', found=false) %}{% set ns.system = messages[0].content %}{{ ns.system }}",
        "{% set ns = namespace(popen=1) %}{{ ns.popen }}",
        # English prose that reads "globals" / "subclasses" with spaces removed
        "{% set intro = 'You are a global s' ~ 'upport agent.' %}{{ intro }}",
        "{{ 'Think global' }}{{ 's, act local' }}{{ 'sub classes of ' ~ 'problems' }}",
        "{{ 'def __init__(self): pass' }}",
        "{{ raise_exception('Conversation roles must alternate user/assistant') }}",
        "{{ strftime_now('%d %b %Y') }}",
        "{{ tools | tojson(indent=4) }}{{ message.content | tojson }}",
        "{% macro __render_tool(tool) %}{{ tool.name }}{% endmacro %}{{ __render_tool(t) }}",
        "{% for m in messages %}{% if loop.first %}{{ m['content'] }}{% endif %}{% break %}{% endfor %}",
        "{% generation %}{{ message.content }}{% endgeneration %}",
        "{{ '%-10s|%5d'|format(name, n) }}{{ 'Answer with 100% confidence' }}",
        "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|join('\\n') }}",
        "{{ '<__media__>' }}{{ content.split('</think>')[-1] }}",
        "{{ message['content'][0]['text'] }}{{ x['_meta'] }}",
    ],
)
def test_normal_constructs_are_safe(template):
    assert jinja.analyse(template) == []


def test_lexical_fallback_only_for_unparseable_templates():
    issues = jinja.analyse("{{ bos_token ")
    assert {i.rule for i in issues} == {"jinja.syntax"}
    assert worst("{% frobnicate %}{{ x }}") == Verdict.SUSPICIOUS


def test_deep_nesting_does_not_crash():
    assert worst("{{ " + "(" * 3000 + "x" + ")" * 3000 + " }}") >= Verdict.SAFE
    assert worst("{{ " + "[" * 3000 + "]" * 3000 + " }}") >= Verdict.SAFE


def test_chained_variables_are_folded_once():
    import time

    chain = "".join(f"{{% set v{i + 1} = v{i} ~ v{i} %}}" for i in range(60))
    started = time.monotonic()
    assert jinja.analyse("{% set v0 = '_' %}" + chain + "{{ x[v60] }}") != []  # underscores being assembled
    assert time.monotonic() - started < 2


def test_folding_is_bounded():
    pieces = " ~ ".join(f"(a if x else b{i})" for i in range(40))
    template = "{% set a = 'x' %}{% set b0 = 'y' %}{{ " + pieces + " }}"
    assert jinja.analyse(template) == []
    assert worst("{{ ''['_' * 100000000 ~ 'class__'] }}") == Verdict.MALICIOUS


def test_standalone_and_referenced_template_files():
    evil = ATTACKS["cycler_globals"].encode()
    for name in ("chat_template.jinja", "additional_chat_templates/tool_use.jinja", "templates/rag.j2"):
        result = scan_reader(BytesReader(evil), name)
        assert result.format == "jinja" and result.verdict == Verdict.MALICIOUS, name
    ctx = run(
        remote_code.scan_json, b'{"chat_template": "additional_chat_templates/rag.jinja"}', "processor_config.json"
    )
    assert rules(ctx) == {"config.chat_template_file"} and verdict_of(ctx.findings) == Verdict.SAFE
    ctx = run(remote_code.scan_json, json.dumps({"chat_template": ATTACKS["dict_join"]}).encode(), "chat_template.json")
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS
    assert scan_reader(BytesReader(b"\xff\xfe{{ x }}"), "chat_template.jinja").verdict >= Verdict.SUSPICIOUS


def test_gguf_template_goes_through_the_ast_analysis(tmp_path):
    from scanning.scanners import scan_file

    path = tmp_path / "evil.gguf"
    write_gguf(path, ATTACKS["namespace_build"])
    result = scan_file(path)
    assert result.verdict == Verdict.MALICIOUS
    assert any(f.rule == "jinja.ssti.dunder" and "GGUF tokenizer.chat_template" in f.message for f in result.findings)
