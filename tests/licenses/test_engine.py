"""Pure engine tests (no database): every case of the issue, layer by layer, plus focused units."""

from __future__ import annotations

import time

import pytest

from licenses.engine import AnalysisInput, BaseInput, Catalog, analyse, load_catalog
from licenses.engine.declared import declare, parse_expression
from licenses.engine.observed import match_texts, observe, rider_terms
from licenses.engine.resolve import obligations_of
from licenses.engine.usefit import judge
from tests.licenses.cases import CASES, Case
from tests.licenses.repos import mit, reflow, text


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(catalog, case: Case):
    result = analyse(catalog, case.input()).as_json()
    assert set(result) == {
        "declared",
        "declared_name",
        "observed",
        "inherited",
        "effective",
        "obligations",
        "conflict",
        "conflicts",
        "scopes",
    }
    assert result["declared"] == case.declared
    observed = {(o["path"], o["license"], o["match"]) for o in result["observed"]}
    assert case.observed <= observed
    assert result["effective"] == case.effective
    assert case.obligations <= set(result["obligations"])
    assert result["conflict"] is case.conflict, result["conflicts"]
    for word in case.conflict_words:
        assert any(word in c for c in result["conflicts"]), (word, result["conflicts"])


def test_every_catalog_text_matches_itself_exactly(catalog):
    for key, indexed in catalog.texts.items():
        if "#" in key:
            continue
        spec = catalog.licenses[indexed.license_id]
        body = next(t.text for t in spec.texts if t.name == key)
        found = match_texts(catalog, "LICENSE", body)
        assert found and found[0].license == spec.id, key
        assert found[0].match == ("policy" if spec.is_policy else "exact"), key


def test_similar_texts_are_told_apart(catalog):
    for lid in ["llama3.1", "llama3.2", "llama3.3", "llama4", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-4.0"]:
        assert match_texts(catalog, "LICENSE", text(lid))[0].license == lid


def test_matched_line_range_and_score(catalog):
    body = "Some preface line\n" * 20 + text("mit") + "\n"
    [e] = match_texts(catalog, "LICENSE", body)
    assert e.match == "header"
    assert e.start_line == 21 and e.end_line == 41
    assert e.score == pytest.approx(1.0)


def test_two_texts_in_one_file(catalog):
    found = match_texts(catalog, "LICENSE", text("apache-2.0") + "\n\n" + mit())
    assert {e.license for e in found} == {"apache-2.0", "mit"}


def test_references(catalog):
    ev = observe(
        catalog,
        {"src/LICENSE_HEADER.txt": "SPDX-License-Identifier: Apache-2.0 OR MIT\n"},
        readme="See https://ai.google.dev/gemma/terms and https://creativecommons.org/licenses/by-nc/4.0/ for terms.",
    )
    got = {(e.path, e.license, e.match) for e in ev}
    assert ("src/LICENSE_HEADER.txt", "apache-2.0", "reference") in got
    assert ("src/LICENSE_HEADER.txt", "mit", "reference") in got
    assert ("README.md", "gemma", "reference") in got
    assert ("README.md", "cc-by-nc-4.0", "reference") in got


def test_readme_mentioning_a_base_is_not_a_license_reference(catalog):
    ev = observe(catalog, {}, readme="We fine-tuned Llama 2 7B and Gemma on our data.")
    assert ev == []


def test_declared_normalisation(catalog):
    assert declare(catalog, {"license": "Apache-2.0"}).expression == "apache-2.0"
    assert declare(catalog, {"license": "GPL-3.0+"}).expression == "gpl-3.0"
    assert declare(catalog, {"license": "llama-2-community-license"}).expression == "llama2"
    assert declare(catalog, {"license": "CC-BY-NC-4.0 OR (MIT AND apache-2.0)"}).expression == (
        "cc-by-nc-4.0 OR (mit AND apache-2.0)"
    )
    d = declare(catalog, {"license": "eupl-1.2"})
    assert d.expression == "eupl-1.2" and d.unknown_symbols == ["eupl-1.2"]
    assert declare(catalog, {"license": "openrail"}).expression == "openrail"
    d = declare(catalog, {"license": "other", "license_link": "https://www.llama.com/llama3_1/license/"})
    assert d.expression == "llama3.1"
    assert declare(catalog, {}, ["license:mit"]).expression == "mit"
    assert declare(catalog, {}).expression is None


def test_obligations_take_the_lightest_option_of_an_or(catalog):
    terms = obligations_of(catalog, parse_expression(catalog, "cc-by-nc-4.0 OR mit"))
    assert "non-commercial" not in terms and "license-copy" in terms
    terms = obligations_of(catalog, parse_expression(catalog, "cc-by-nc-4.0 AND mit"))
    assert "non-commercial" in terms


@pytest.mark.parametrize(
    ("effective", "profile", "permitted", "word"),
    [
        ("llama2", {"commercial_use": True, "monthly_active_users": 800_000_000}, False, "700M"),
        ("llama2", {"commercial_use": True, "monthly_active_users": 1_000}, True, ""),
        ("cc-by-nc-4.0", {"commercial_use": True}, False, "non-commercial"),
        ("cc-by-nc-4.0", {"commercial_use": False}, True, ""),
        ("llama3", {"commercial_use": True, "trains_on_outputs": True}, False, "trains on outputs"),
        ("llama3.1", {"commercial_use": True, "trains_on_outputs": True}, True, "naming"),
        ("stabilityai-community", {"commercial_use": True, "annual_revenue_band": "lt10m"}, False, "revenue"),
        ("stabilityai-community", {"commercial_use": True, "annual_revenue_band": "lt1m"}, True, "register"),
        ("microsoft-research-license", {"commercial_use": False, "distributes_model": True}, False, "distributes"),
        ("flux-1-dev-non-commercial", {"commercial_use": False}, True, "evaluation"),
        ("unknown", {"commercial_use": True}, False, "unknown"),
        ("qwen", {"commercial_use": True, "monthly_active_users": 150_000_000}, False, "100M"),
    ],
)
def test_use_fit(catalog, effective, profile, permitted, word):
    from inventory.choices import RevenueBand

    tree = parse_expression(catalog, effective)
    from licenses.engine.declared import ids_of

    ok, reasons = judge(
        effective=effective,
        effective_ids=ids_of(tree),
        obligations=obligations_of(catalog, tree),
        profile=profile,
        revenue_upper_bound=RevenueBand.upper_bound,
    )
    assert ok is permitted, reasons
    if word:
        assert any(word in r for r in reasons), reasons


def test_eu_multimodal_is_a_caution(catalog):
    tree = parse_expression(catalog, "llama3.2")
    ok, reasons = judge(
        effective="llama3.2",
        effective_ids=["llama3.2"],
        obligations=obligations_of(catalog, tree),
        profile={"commercial_use": True, "serves_eu_users": True},
        pipeline_tag="image-text-to-text",
    )
    assert ok and any("EU" in r for r in reasons)


def test_thousand_text_files_under_five_seconds(catalog):
    files = {}
    prose = ("This directory holds evaluation prompts and notes about tokenizer behaviour. " * 12 + "\n") * 6
    for i in range(1000):
        files[f"data/notes_{i:04d}.txt"] = prose + f"file {i}\n"
    files["LICENSE"] = text("llama3.1")
    files["USE_POLICY.md"] = text("llama3.1-aup")
    files["docs/LICENSE-CODE.txt"] = reflow(mit(), 70)
    start = time.perf_counter()
    ev = observe(catalog, files, readme="# Model\n")
    elapsed = time.perf_counter() - start
    assert {(e.path, e.license) for e in ev} >= {("LICENSE", "llama3.1"), ("docs/LICENSE-CODE.txt", "mit")}
    assert elapsed < 5.0, elapsed


# --- issue 14: identity, riders, scopes, notices, lineage in prose -------------------------------------
def test_a_near_match_that_names_another_license_is_not_that_license(catalog):
    """OPT-175B's agreement is LLaMA 1's template: with OPT in the catalog it is an exact OPT match; without it,
    it must stay `other` — never the neighbour llama1 — and say what it resembles."""
    [exact] = match_texts(catalog, "LICENSE.md", text("opt-175b"))
    assert (exact.license, exact.match) == ("opt-175b", "exact")
    without_opt = Catalog.build(s for s in catalog.licenses.values() if s.id != "opt-175b")
    found = match_texts(without_opt, "LICENSE.md", text("opt-175b"))
    assert found and found[0].license == "other" and found[0].match == "modified"
    assert "resembles llama1" in found[0].detail and "llama" in found[0].detail
    result = analyse(
        without_opt, AnalysisInput("facebook/opt-350m", {"license": "other"}, files={"LICENSE.md": text("opt-175b")})
    ).as_json()
    assert result["effective"] == "other" and result["conflict"] is False
    # an edited text that still names its license stays that license
    [edited] = match_texts(catalog, "LICENSE", text("llama3.1").replace("shall", "will"))
    assert (edited.license, edited.match) == ("llama3.1", "modified")


def test_versions_are_never_rounded(catalog):
    assert declare(catalog, {"license": "cc-by-nc-2.0"}).expression == "cc-by-nc-2.0"
    assert declare(catalog, {"license": "CC-BY-2.0"}).expression == "cc-by-2.0"
    d = declare(catalog, {"license": "cc-by-nc-2.5"})
    assert d.expression == "cc-by-nc-2.5" and d.unknown_symbols == ["cc-by-nc-2.5"]
    d = declare(catalog, {"license": "other", "license_name": "llama-3.4-community-license"})
    assert d.expression == "other" and d.name == "llama-3.4-community-license"
    falcon3 = {"license": "other", "license_link": "https://falconllm.tii.ae/falcon-terms-and-conditions.html"}
    assert declare(catalog, falcon3).expression == "falcon-llm"
    falcon2 = {"license": "unknown", "license_name": "falcon-2-11b-license"}
    assert declare(catalog, falcon2).expression == "falcon-2-11b"
    assert match_texts(catalog, "LICENSE", text("cc-by-nc-2.0"))[0].license == "cc-by-nc-2.0"


NC_RIDER = "\n\nAdditional terms: the model may be used for non-commercial purposes only.\n"


def test_a_rider_is_its_own_evidence_with_its_terms_and_blocks_commercial_use(catalog):
    data = AnalysisInput("acme/enc", {"license": "apache-2.0"}, files={"LICENSE": text("apache-2.0") + NC_RIDER})
    result = analyse(catalog, data)
    rider = next(e for e in result.observed if e.terms)
    assert (rider.license, rider.match, rider.terms) == ("LicenseRef-apache-2.0-rider", "modified", ("non-commercial",))
    assert rider.start_line > 190 and "non-commercial purposes only" in rider.detail
    assert result.resolution.effective == "apache-2.0 AND LicenseRef-apache-2.0-rider"
    assert "non-commercial" in result.resolution.obligations
    assert any("rider" in c for c in result.resolution.conflicts)
    ok, reasons = judge(
        effective=result.resolution.effective,
        effective_ids=result.resolution.effective_ids,
        obligations=result.resolution.obligations,
        profile={"commercial_use": True},
    )
    assert not ok and any("non-commercial" in r for r in reasons)
    # the same text without the rider: plain Apache, commercial use fine
    plain = analyse(
        catalog, AnalysisInput("acme/enc2", {"license": "apache-2.0"}, files={"LICENSE": text("apache-2.0")})
    )
    assert plain.resolution.effective == "apache-2.0" and "non-commercial" not in plain.resolution.obligations


def test_rider_terms_read_the_restriction_not_the_words():
    assert rider_terms("You may not use the model for commercial purposes.")[0] == ("non-commercial",)
    assert rider_terms("For research purposes only.")[0] == ("non-commercial", "research-only")
    assert rider_terms("You may not use the model for military purposes.")[0] == ("use-restrictions",)
    assert rider_terms("Questions about these terms go to legal@acme.example. Please read carefully.")[0] == ()


def test_notice_files_are_third_party_not_the_model_license(catalog):
    notice = (
        "This product bundles code from the following projects.\n\n--- tiktoken ---\n\n"
        + mit("OpenAI, Shantanu Jain", "2022")
        + "\n\n--- Megatron-LM ---\n\n"
        + text("apache-2.0")
    )
    files = {"LICENSE": text("tongyi-qianwen"), "THIRD_PARTY_NOTICES.txt": notice}
    result = analyse(
        catalog, AnalysisInput("Qwen/Qwen-14B", {"license": "other", "license_name": "tongyi-qianwen"}, files=files)
    )
    found = {(e.path, e.license, e.scope) for e in result.observed}
    assert ("THIRD_PARTY_NOTICES.txt", "mit", "notice") in found
    assert result.resolution.effective == "tongyi-qianwen"
    assert not result.resolution.conflicts
    assert "copyleft" not in result.resolution.obligations


def test_scope_statements_in_prose(catalog):
    body = (
        "## License\n\nThe code in this repository is open-sourced under the Apache-2.0 license, while the use of "
        "the model weights needs to comply with the [Model License](MODEL_LICENSE).\n"
    )
    refs = observe(catalog, {}, readme=body)
    assert [(e.license, e.scope) for e in refs] == [("apache-2.0", "code")]
    result = analyse(catalog, AnalysisInput("THUDM/x", {}, card_markdown=body, files={"MODEL_LICENSE": text("yi")}))
    assert result.resolution.effective == "yi AND apache-2.0"
    assert result.resolution.scopes == {"weights": "yi", "code": "apache-2.0"}
    # a statement about the code only never makes the weights' license
    only_code = analyse(
        catalog, AnalysisInput("acme/x", {}, card_markdown="The code is released under the MIT License.")
    )
    assert only_code.resolution.effective == "unknown AND mit"
    assert only_code.resolution.scopes == {"weights": "unknown", "code": "mit"}


def test_bases_named_in_prose_are_reference_evidence_with_the_line(catalog):
    body = "# Med\n\nA helpful model.\n\nFine-tuned from Gemma on medical QA pairs.\n"
    result = analyse(catalog, AnalysisInput("acme/med", {"license": "mit"}, card_markdown=body))
    [ev] = [e for e in result.observed if e.scope == "lineage"]
    assert (ev.path, ev.license, ev.match, ev.start_line) == ("README.md", "gemma", "reference", 5)
    assert "Fine-tuned from Gemma" in ev.detail
    [inh] = result.inherited
    assert (inh.license, inh.from_, inh.weak) == ("gemma", "Gemma (named in the model card, line 5)", True)
    # with base_model metadata the prose adds evidence, not a second inheritance
    with_base = AnalysisInput(
        "acme/med2", {"license": "mit"}, card_markdown=body, bases=[BaseInput("google/gemma-7b", "finetune", "gemma")]
    )
    assert [i.from_ for i in analyse(catalog, with_base).inherited] == ["google/gemma-7b"]


def test_outputs_inheritance_reads_naturally(catalog):
    body = "We fine-tuned this model on synthetic data generated by Gemma 2 27B."
    [inh] = analyse(catalog, AnalysisInput("acme/d", {"license": "apache-2.0"}, card_markdown=body)).inherited
    assert inh.from_ == "outputs of Gemma 2 (model card)"
    assert "outputs of generated" not in inh.from_


def test_hub_card_of_a_base_that_is_not_imported(catalog):
    base = BaseInput(
        "meta-llama/Llama-3.1-8B",
        "finetune",
        None,
        placeholder=True,
        hub_license="llama3.1",
        hub_from="Hub card of meta-llama/Llama-3.1-8B",
    )
    result = analyse(catalog, AnalysisInput("acme/Llama-3.1-ft", {"license": "llama3.1"}, bases=[base])).as_json()
    assert result["inherited"] == [{"license": "llama3.1", "from": "Hub card of meta-llama/Llama-3.1-8B"}]
    assert result["effective"] == "llama3.1"
    unknown = BaseInput("someone/gone", "finetune", None, placeholder=True)
    result = analyse(catalog, AnalysisInput("acme/y", {"license": "apache-2.0"}, bases=[unknown])).as_json()
    assert result["effective"] == "apache-2.0 AND unknown"


def test_chinese_scope_statements(catalog):
    body = "本仓库的代码依照 Apache-2.0 协议开源，ChatGLM3-6B 模型的权重的使用则需要遵循 Model License。\n"
    assert [(e.license, e.scope) for e in observe(catalog, {}, readme=body)] == [("apache-2.0", "code")]


def test_a_hub_card_with_custom_terms_passes_down_other(catalog):
    base = BaseInput(
        "acme/base", "finetune", None, placeholder=True, hub_license="other", hub_from="Hub card of acme/base"
    )
    result = analyse(catalog, AnalysisInput("acme/ft", {"license": "apache-2.0"}, bases=[base])).as_json()
    assert result["inherited"] == [{"license": "other", "from": "Hub card of acme/base"}]
    assert result["effective"] == "apache-2.0 AND other"


def test_another_falcon_licence_on_the_falcon_2_template_is_not_falcon_2_11b(catalog):
    """TII builds each Falcon licence on the same Apache-derived template; one that does not name Falcon 2 11B
    must not be recorded as the Falcon 2 11B license (the exact text still is)."""
    assert match_texts(catalog, "LICENSE.txt", text("falcon-2-11b"))[0].license == "falcon-2-11b"
    other_falcon = text("falcon-2-11b").replace("Falcon 2 11B", "Falcon LLM").replace("11B", "40B")
    found = match_texts(catalog, "LICENSE.txt", other_falcon)
    assert found and found[0].license == "other" and "resembles falcon-2-11b" in found[0].detail


def test_copyleft_code_beside_restricted_weights_is_no_conflict(catalog):
    files = {"LICENSE-CODE": text("gpl-3.0"), "LICENSE-MODEL": text("llama2")}
    result = analyse(catalog, AnalysisInput("acme/gpl-tools-llama", {"license": "llama2"}, files=files))
    assert result.resolution.effective == "llama2 AND gpl-3.0"
    assert result.resolution.scopes == {"weights": "llama2", "code": "gpl-3.0"}
    assert not result.resolution.conflicts
    # the same two licenses on the same part still collide
    both = analyse(catalog, AnalysisInput("acme/mixed", {"license": "gpl-3.0 AND llama2"}))
    assert any("forbids further restrictions" in c for c in both.resolution.conflicts)
