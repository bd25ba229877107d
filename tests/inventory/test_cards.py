"""inventory.cards: pure helpers, no database, no network."""

from __future__ import annotations

import pytest

from inventory.cards import (
    ADAPTER,
    FINETUNE,
    MAX_FRONT_MATTER_BYTES,
    MERGE,
    QUANTIZED,
    UNKNOWN,
    BaseModel,
    extract_base_models,
    extract_datasets,
    split_front_matter,
)
from tests.hubserver.repos import LLAMA_FINETUNE_CARD, TINY_BERT_CARD


def test_split_front_matter_realistic_card():
    fm = split_front_matter(TINY_BERT_CARD)
    assert fm.error == ""
    assert fm.data["license"] == "apache-2.0"
    assert fm.data["datasets"] == ["bookcorpus", "wikipedia"]
    assert fm.body.lstrip().startswith("# tiny-bert")
    assert "---" not in fm.body.splitlines()[0]


def test_split_front_matter_bytes_crlf_and_bom():
    text = "\ufeff---\r\nlicense: mit\r\n---\r\n# Title\r\n".encode()
    fm = split_front_matter(text)
    assert fm == ({"license": "mit"}, "# Title\r\n", "")


@pytest.mark.parametrize(
    ("text", "body"),
    [("# Just markdown\n", "# Just markdown\n"), ("", ""), ("---\n---\nbody", "body"), ("---\n...\nbody", "body")],
)
def test_split_front_matter_absent_or_empty(text, body):
    fm = split_front_matter(text)
    assert fm.data == {}
    assert fm.body == body
    assert fm.error == ""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("---\nlicense: [mit\n---\nbody", "invalid YAML"),
        ("---\n- a\n- b\n---\nbody", "not a mapping"),
        ("---\njust a string\n---\nbody", "not a mapping"),
        ("---\nlicense: mit\nno closing fence", "not closed"),
        ("---\n!!python/object/apply:os.system ['true']\n---\n", "invalid YAML"),
        ("---\nkey: *undefined_alias\n---\n", "invalid YAML"),
    ],
)
def test_split_front_matter_bad_yaml_never_raises(text, fragment):
    fm = split_front_matter(text)
    assert fm.data == {}
    assert fragment in fm.error


def test_split_front_matter_bounded():
    huge = "---\nblob: '" + "a" * (MAX_FRONT_MATTER_BYTES + 10) + "'\n---\nbody"
    fm = split_front_matter(huge)
    assert fm.data == {}
    assert "larger than" in fm.error
    cut = split_front_matter("# x\n" + "y" * 5000, max_bytes=100)
    assert len(cut.body) == 100


def test_split_front_matter_does_not_treat_later_rule_as_fence():
    fm = split_front_matter("# Title\n\n---\nlicense: mit\n---\n")
    assert fm.data == {}
    assert fm.error == ""


def test_base_models_from_card_with_declared_relation():
    fm = split_front_matter(LLAMA_FINETUNE_CARD)
    assert extract_base_models(fm.data) == [BaseModel("meta-llama/Llama-2-7b-hf", FINETUNE)]


def test_base_models_several_without_relation_is_merge():
    card = {"base_model": ["org/a", "org/b"]}
    assert extract_base_models(card) == [BaseModel("org/a", MERGE), BaseModel("org/b", MERGE)]


def test_base_models_single_without_relation_is_finetune_unless_files_say_otherwise():
    card = {"base_model": "org/a"}
    assert extract_base_models(card) == [BaseModel("org/a", FINETUNE)]
    assert extract_base_models(card, files=["adapter_config.json", "adapter_model.safetensors"]) == [
        BaseModel("org/a", ADAPTER)
    ]
    assert extract_base_models(card, files=["q4/model-Q4_K_M.gguf"]) == [BaseModel("org/a", QUANTIZED)]


def test_base_models_from_tags_relation_and_plain():
    tags = [
        "transformers",
        "base_model:org/a",
        "base_model:quantized:org/a",
        "base_model:adapter:org/b",
        "base_model:org/c",
        "base_model:merge:org/d",
        "base_model:bogus-relation:org/e",
    ]
    assert extract_base_models({}, tags) == [
        BaseModel("org/a", QUANTIZED),
        BaseModel("org/b", ADAPTER),
        BaseModel("org/c", UNKNOWN),
        BaseModel("org/d", MERGE),
    ]


def test_base_models_card_relation_wins_and_order_and_dedup():
    card = {"base_model": ["Org/A", "org/b", "org/a"], "base_model_relation": "merge"}
    tags = ["base_model:finetune:org/a", "base_model:org/z"]
    assert extract_base_models(card, tags) == [
        BaseModel("Org/A", MERGE),
        BaseModel("org/b", MERGE),
        BaseModel("org/z", UNKNOWN),
    ]


def test_base_models_tag_relation_used_when_card_has_none():
    card = {"base_model": "org/a"}
    assert extract_base_models(card, ["base_model:adapter:org/a"]) == [BaseModel("org/a", ADAPTER)]


@pytest.mark.parametrize("value", [None, 3, {"a": 1}, ["", "  ", 7, None], "not a valid id!"])
def test_base_models_ignore_garbage(value):
    assert extract_base_models({"base_model": value, "base_model_relation": 5}, [None, 7, "base_model:"]) == []


def test_base_models_unknown_declared_relation_falls_back():
    assert extract_base_models({"base_model": "org/a", "base_model_relation": "distilled"}) == [
        BaseModel("org/a", FINETUNE)
    ]


def test_datasets_card_and_tags_deduplicated_in_order():
    card = {"datasets": ["bookcorpus", "wikipedia", "BookCorpus"]}
    tags = ["dataset:wikipedia", "dataset:tatsu-lab/alpaca", "license:mit", "dataset:"]
    assert extract_datasets(card, tags) == ["bookcorpus", "wikipedia", "tatsu-lab/alpaca"]


def test_datasets_string_and_missing():
    assert extract_datasets({"datasets": "squad"}) == ["squad"]
    assert extract_datasets(None, ()) == []
    assert extract_datasets({"datasets": [1, None, "ok/ds"]}) == ["ok/ds"]
