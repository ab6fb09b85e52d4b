"""A tracking child's id names one (merchant, carrier, tracking number) and no other (issue 8).

The legacy `shipment-{carrier}-{number}` id had no merchant (two merchants' parcels shared it) and was
ambiguous (`ups-x` + `1234` and `ups` + `x-1234`). The property: distinct valid triples never share an id.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import Shipment, legacy_shipment_workflow_id, parcel_of_workflow_id, shipment_workflow_id
from domain.orders import _ID_RE

# The patterns the ids must satisfy (domain.orders._ID_RE, domain.tracking.Shipment's fields), as strategies
# biased towards the characters that could be mistaken for a separator.
merchants = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,12}\Z")
carriers = st.from_regex(r"\A[a-z0-9_-]{2,8}\Z")
numbers = st.from_regex(r"\A[A-Za-z0-9-]{4,12}\Z")
triples = st.tuples(merchants, carriers, numbers)


@given(triples, triples)
def test_distinct_triples_never_share_an_id(a: tuple[str, str, str], b: tuple[str, str, str]) -> None:
    assert (shipment_workflow_id(*a) == shipment_workflow_id(*b)) == (a == b)


@given(triples)
def test_an_id_reads_back_as_its_tracking_number(t: tuple[str, str, str]) -> None:
    assert parcel_of_workflow_id(shipment_workflow_id(*t)) == t[2]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("acme", "ups-x", "1234"), ("acme", "ups", "x-1234")),  # the legacy id's ambiguity
        (("acme", "ups", "1234"), ("acme-eu", "ups", "1234")),  # same parcel number, another merchant
        (("acme", "ups", "eu-1234"), ("acme-eu", "ups", "1234")),
        (("a:b", "ups", "1234"), ("a", "b-ups", "1234")),
        (("acme.eu", "dhl", "0000"), ("acme", "eu-dhl", "0000")),
    ],
)
def test_adversarial_pairs_get_different_ids(a: tuple[str, str, str], b: tuple[str, str, str]) -> None:
    for merchant, carrier, number in (a, b):  # every part is valid where it is used
        assert _ID_RE.match(merchant)
        Shipment(carrier=carrier, tracking_number=number)
    assert shipment_workflow_id(*a) != shipment_workflow_id(*b)


def test_the_legacy_id_was_ambiguous_which_is_why_it_went() -> None:
    assert legacy_shipment_workflow_id("ups-x", "1234") == legacy_shipment_workflow_id("ups", "x-1234")


def test_a_part_holding_the_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="free of"):
        shipment_workflow_id("acme~eu", "ups", "1234")
    with pytest.raises(ValueError, match="non-empty"):
        shipment_workflow_id("", "ups", "1234")


def test_the_format() -> None:
    assert Shipment(carrier="ups", tracking_number="1Z-0001").workflow_id("acme") == "shipment~acme~ups~1Z-0001"
    assert parcel_of_workflow_id("shipment-easypost-EZ-1") == "EZ-1"  # legacy ids still read for display
    assert parcel_of_workflow_id("order-acme-1") is None
