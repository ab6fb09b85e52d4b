"""The bundled policies load, say what their comments claim, and resolve variants per order; and the
`aftercare policy validate` command reports them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from aftercare.policy_cli import main, validate_command
from aftercare.settings import DEMO_STRIPE_KEY_ENV
from domain import Address, Channel, Customer, LineItem, Order
from policies.durations import Duration
from policies.loader import BUNDLED_DIR, load_policy, load_policy_dir
from policies.schema import Defaults, Delays, ExchangeBonus, ReviewRequestStep, Tracking

FIXTURES = Path(__file__).parent / "fixtures"
BUNDLED_FILES = sorted(BUNDLED_DIR.glob("*.yaml"))


def order(merchant: str, *, country: str = "US", total: str = "40.00", tags: list[str] | None = None) -> Order:
    return Order(
        merchant_id=merchant,
        order_id="1001",
        placed_at=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        currency="USD",
        total=Decimal(total),
        customer=Customer(id="c-1", email="ada@example.com"),
        shipping_address=Address(country=country),
        items=[LineItem(id="li-1", sku="COFFEE-ETHIOPIA-12OZ", name="Ethiopia", quantity=2, unit_price=20)],
        tags=tags or [],
    )


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.name)
def test_every_bundled_policy_loads(path: Path) -> None:
    loaded = load_policy(path)
    assert loaded.hash == loaded.policy.content_hash()


def test_bundled_policies_have_distinct_merchant_ids() -> None:
    assert [p.name for p in BUNDLED_FILES] == [
        "acme.yaml",
        "coffee-roaster.yaml",
        "default.yaml",
        "demo.yaml",
        "fashion-boutique.yaml",
    ]
    assert sorted(load_policy_dir(BUNDLED_DIR)) == ["acme", "bean-there", "default", "demo", "maison-lune"]


def test_default_policy_spells_out_the_engine_defaults() -> None:
    """default.yaml claims its timings are the engine's own: keep the file and schema.py in step."""
    policy = load_policy(BUNDLED_DIR / "default.yaml").policy
    assert policy.defaults == Defaults()
    assert policy.delays == Delays()
    assert policy.tracking == Tracking()
    assert policy.steps.review_request == ReviewRequestStep()
    assert policy.steps.follow_up.after == Duration(3, "d")
    # the market norms the architecture names
    assert policy.steps.review_request.after == Duration(14, "d")
    assert policy.steps.review_request.reminder_after == Duration(7, "d")
    assert policy.defaults.caps[Channel.EMAIL].window == Duration(16, "h")
    assert policy.defaults.caps[Channel.SMS].window == Duration(24, "h")
    assert policy.delays.fulfillment_ladder == [Duration(2, "bd"), Duration(5, "bd")]
    assert set(policy.channels) == {Channel.EMAIL, Channel.SMS}


def test_demo_policy_shows_every_stage_within_minutes() -> None:
    policy = load_policy(BUNDLED_DIR / "demo.yaml").policy
    assert policy.merchant.id == "demo"
    assert set(policy.channels) == {Channel.EMAIL, Channel.SMS}
    assert policy.defaults.quiet_hours == {}
    steps = policy.steps
    for waited in (steps.follow_up.after, steps.review_request.after, steps.review_request.reminder_after):
        assert waited is not None and waited.as_timedelta().total_seconds() <= 5 * 60
    (rule,) = policy.reorder
    assert rule.matches("COFFEE-HOUSE") and rule.matches("FILTER-100") and not rule.matches("KETTLE-1")
    # remind_before outlasts a demo order's supply, so the reminder is due at delivery (it is never earlier)
    assert rule.remind_before.as_timedelta().days >= rule.supply_days_per_unit * 10
    assert rule.repeat_every == Duration(2, "m")


def test_acme_the_readme_merchant_has_a_real_world_journey() -> None:
    """The README's examples post orders for merchant `acme`: it needs a bundled policy that can run them."""
    policy = load_policy(BUNDLED_DIR / "acme.yaml").policy
    assert policy.merchant.id == "acme"
    assert set(policy.channels) == {Channel.EMAIL, Channel.SMS}
    assert policy.steps.shipped.channels == [Channel.EMAIL, Channel.SMS]
    assert policy.returns.address is not None  # support can make exchanges with return labels
    filters = next(rule for rule in policy.reorder if rule.matches("FILTER-10"))
    assert filters.supply_days_per_unit == 60 and not filters.matches("HOSE-25FT")
    assert policy.matching_variants(order("acme", country="CA")) == ["international"]
    assert policy.for_order(order("acme", country="CA")).steps.review_request.after == Duration(21, "d")


def test_coffee_roaster_international_variant_waits_longer() -> None:
    policy = load_policy(BUNDLED_DIR / "coffee-roaster.yaml").policy
    domestic = policy.for_order(order("bean-there", country="US"))
    abroad = policy.for_order(order("bean-there", country="DE"))

    assert policy.matching_variants(order("bean-there", country="US")) == []
    assert policy.matching_variants(order("bean-there", country="DE")) == ["international"]
    assert domestic.steps.review_request.after == Duration(10, "d")
    assert abroad.steps.review_request.after == Duration(21, "d")
    assert abroad.delays.stalled_after == Duration(7, "d")
    assert abroad.tracking.expire_after == Duration(45, "d")
    # what the override does not touch stays the base's
    assert abroad.steps.review_request.reminder_after == Duration(7, "d")
    assert abroad.reorder == domestic.reorder == policy.reorder
    assert abroad.steps.shipped.channels == [Channel.EMAIL, Channel.SMS]


def test_coffee_roaster_reorder_rule_for_coffee_bags() -> None:
    policy = load_policy(BUNDLED_DIR / "coffee-roaster.yaml").policy
    coffee = next(rule for rule in policy.reorder if rule.matches("COFFEE-ETHIOPIA-12OZ"))
    assert (coffee.supply_days_per_unit, coffee.remind_before, coffee.repeat_every, coffee.max_reminders) == (
        14,
        Duration(3, "d"),
        Duration(7, "d"),
        2,
    )
    assert not coffee.matches("MUG-BLUE")


def test_fashion_boutique_vip_variant_needs_both_the_total_and_the_tag() -> None:
    policy = load_policy(BUNDLED_DIR / "fashion-boutique.yaml").policy
    vip = policy.for_order(order("maison-lune", total="250.00", tags=["vip"]))
    big_but_not_vip = policy.for_order(order("maison-lune", total="400.00"))
    vip_small_order = policy.for_order(order("maison-lune", total="249.99", tags=["VIP"]))

    assert vip.returns.window == Duration(60, "d")
    assert vip.returns.exchange_bonus == ExchangeBonus(kind="percent", value=Decimal(15))
    assert vip.steps.follow_up.after == Duration(1, "d")
    assert vip.steps.follow_up.channels == [Channel.EMAIL, Channel.WHATSAPP]
    for regular in (big_but_not_vip, vip_small_order):
        assert regular.returns.window == Duration(30, "d")
        assert regular.returns.exchange_bonus == ExchangeBonus(kind="percent", value=Decimal(10))
        assert regular.steps.follow_up.after == Duration(2, "d")
    assert policy.steps.review_request.per == "item"


# -- aftercare policy validate ---------------------------------------------------------------------


def test_validate_bundled_directory_prints_one_ok_line_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_command([str(BUNDLED_DIR)]) == 0
    lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 5
    demo = load_policy(BUNDLED_DIR / "demo.yaml")
    (demo_line,) = (line for line in lines if "demo.yaml" in line)
    assert demo_line.split() == [
        "ok",
        str(BUNDLED_DIR / "demo.yaml"),
        "merchant=demo",
        f"hash={demo.hash}",
        "variants=0",
    ]
    assert all(line.startswith("ok  ") for line in lines)


def test_validate_single_file_line_format(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "valid.yaml"
    assert validate_command([str(path)]) == 0
    loaded = load_policy(path)
    assert capsys.readouterr().out.rstrip() == f"ok  {path}  merchant=acme  hash={loaded.hash}  variants=1"


def test_validate_reports_every_problem_line_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = FIXTURES / "valid.yaml", FIXTURES / "two_problems.yaml"
    assert validate_command([str(good), str(bad)]) == 1
    out = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert out[0].split()[:3] == ["ok", str(good), "merchant=acme"]
    assert out[1].split() == ["FAIL", str(bad), "2", "problems"]
    assert out[2] == (
        f"{bad}:6:5: steps.follow_up.after: '2x' is not a duration; use a whole number and a unit: "
        f"30m, 36h, 2d, 1w, or 3bd for business days"
    )
    assert out[3] == f"{bad}:7:3: steps.reviw_request: unknown key 'reviw_request'; did you mean 'review_request'?"
    assert out[4] == "1 of 2 checked with problems (2 in all)"


def test_validate_catches_a_merchant_id_used_twice(capsys: pytest.CaptureFixture[str]) -> None:
    first, second = FIXTURES / "valid.yaml", FIXTURES / "same_merchant.yaml"
    assert validate_command([str(first), str(second), str(first)]) == 1  # the repeat is checked once
    out = capsys.readouterr().out
    assert f"{second}:3:3: merchant.id: merchant id 'acme' is already used by {first}" in out.splitlines()
    assert "1 of 2 checked with problems (1 in all)" in out


def test_validate_missing_path_and_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert validate_command([str(missing), str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"{missing}:1:1: no such file or directory" in out
    assert f"{tmp_path}:1:1: no *.yaml policy files in this directory" in out


def test_module_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(FIXTURES / "secret.yaml")]) == 1
    assert "channels.sms.auth_token: 'auth_token' looks like a credential" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([])


def test_validate_reports_a_bad_link_placeholder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text("merchant:\n  id: acme\n  name: Acme\n  links:\n    tracking: https://acme.test/t/{0}\n")
    assert validate_command([str(path)]) == 1
    out = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert (
        f"{path}:5:5: merchant.links.tracking: {{0}} is not a placeholder a link can use; "
        "valid placeholders: {order_id}, {sku}, {tracking_number}" in out
    )


def test_every_bundled_merchant_refunds_with_its_own_stripe_key() -> None:
    """Each merchant names its own key's variable; the demo's is the one `aftercare up` sets."""
    named = {mid: p.policy.payments for mid, p in load_policy_dir(BUNDLED_DIR).items()}
    assert all(payments is not None for payments in named.values())
    variables = [p.credentials_env["secret_key"] for p in named.values() if p is not None]
    assert len(set(variables)) == len(variables)  # no two merchants share one Stripe account
    demo = named["demo"]
    assert demo is not None and demo.credentials_env == {"secret_key": DEMO_STRIPE_KEY_ENV}
