"""Every layer of every realistic card (tests/licenses/realistic.py) agrees with the reviewer."""

from __future__ import annotations

import pytest

from licenses.engine import analyse, load_catalog
from tests.licenses.realistic import CARDS, HELD_OUT, Card, layers


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_the_set_is_large_enough():
    assert len(CARDS) >= 40
    everything = CARDS + HELD_OUT
    assert len({c.repo_id for c in everything}) == len(everything)


@pytest.mark.parametrize("card", CARDS + HELD_OUT, ids=[c.name for c in CARDS + HELD_OUT])
def test_card(catalog, card: Card):
    result = analyse(catalog, card.input()).as_json()
    verdict = layers(card, result)
    wrong = {layer: ok for layer, ok in verdict.items() if not ok}
    assert not wrong, (wrong, result)
