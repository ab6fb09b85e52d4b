"""Journey ids: one per (merchant, order) pair, and no two pairs alike."""

from __future__ import annotations

import itertools
import random

from domain import journey_id, legacy_journey_id, order_of_journey
from domain.orders import _ID_RE

ID_CHARS = "aAz09._:-"


def valid_ids(rng: random.Random, count: int) -> list[str]:
    """Ids built from the characters that make spellings collide: separators and short alphanumerics."""
    ids = {"acme", "acme-eu", "eu-0aff", "0aff", "a", "a-b", "b", "a-b-c", "c", "x:y", "x.y"}
    while len(ids) < count:
        ids.add(rng.choice("aZ0") + "".join(rng.choice(ID_CHARS) for _ in range(rng.randint(0, 5))))
    assert all(_ID_RE.match(i) for i in ids)
    return sorted(ids)


def test_no_two_merchant_order_pairs_share_a_journey_id() -> None:
    ids = valid_ids(random.Random(8), 120)
    pairs = list(itertools.product(ids, ids))
    spelled = {journey_id(m, o) for m, o in pairs}
    assert len(spelled) == len(pairs)
    # The old spelling did collide: acme's order eu-0aff and acme-eu's order 0aff.
    assert legacy_journey_id("acme", "eu-0aff") == legacy_journey_id("acme-eu", "0aff")
    assert journey_id("acme", "eu-0aff") != journey_id("acme-eu", "0aff")


def test_a_journey_id_names_its_order_in_either_spelling() -> None:
    for merchant, order in itertools.product(valid_ids(random.Random(9), 40), repeat=2):
        assert order_of_journey(journey_id(merchant, order), merchant) == order
        assert order_of_journey(journey_id(merchant, order), None) == order
        assert order_of_journey(legacy_journey_id(merchant, order), merchant) == order
