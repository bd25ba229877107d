"""Zero false negatives / zero false positives on the generated pickle corpus (see corpus_pickle)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanning.scanners import scan_file
from tests.scanning.corpus_pickle import build_corpus, corpus_index

pytestmark = pytest.mark.slow  # builds the pickle corpus with the real libraries, then scans every file


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str]]:
    return build_corpus(tmp_path_factory.mktemp("pickle-corpus"))


IDS = [f"{label}/{name}" for name, label in corpus_index()]


@pytest.mark.parametrize("index", range(len(IDS)), ids=IDS)
def test_corpus_verdict(corpus: list[tuple[Path, str]], index: int) -> None:
    path, expected = corpus[index]
    assert f"{expected}/{path.name}" == IDS[index]
    result = scan_file(path)
    detail = [(f.rule, f.message, f.member, f.evidence) for f in result.findings]
    assert result.verdict.label == expected, f"{path.name}: {result.format} {detail}"
    assert not any(f.rule == "scan.error" for f in result.findings), detail


def test_corpus_is_large_and_mixed(corpus: list[tuple[Path, str]]) -> None:
    labels = [label for _, label in corpus]
    assert labels.count("malicious") >= 80
    assert labels.count("safe") >= 40
    assert {"suspicious", "unscannable"} <= set(labels)
