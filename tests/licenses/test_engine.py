"""Pure engine tests (no database): every case of the issue, layer by layer, plus focused units."""

from __future__ import annotations

import time

import pytest

from licenses.engine import analyse, load_catalog
from licenses.engine.declared import declare, parse_expression
from licenses.engine.observed import match_texts, observe
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
