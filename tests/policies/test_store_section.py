"""The policy's `store:` section: which shop's webhooks are this merchant's, and where its secret is."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.loader import PolicyError, load_policy_dir, load_policy_text

BASE = "version: 1\nmerchant: {id: acme, name: Acme}\n"


def test_a_shopify_shop_is_named_by_its_myshopify_host() -> None:
    loaded = load_policy_text(
        BASE + "store: {platform: shopify, shop_domain: acme.myshopify.com, webhook_secret_env: ACME_SHOPIFY_SECRET}\n"
    )
    store = loaded.policy.store
    assert (
        store is not None and store.shop == "acme.myshopify.com" and store.webhook_secret_env == "ACME_SHOPIFY_SECRET"
    )


def test_a_woocommerce_site_is_named_as_its_webhooks_name_it() -> None:
    loaded = load_policy_text(
        BASE + 'store: {platform: woocommerce, site_url: "https://Example.com/shop/", webhook_secret_env: WC_SECRET}\n'
    )
    assert loaded.policy.store is not None and loaded.policy.store.shop == "example.com/shop"


@pytest.mark.parametrize(
    ("store", "problem"),
    [
        ("{platform: shopify, webhook_secret_env: X_SECRET}", "needs shop_domain"),
        ("{platform: woocommerce, webhook_secret_env: X_SECRET}", "needs site_url"),
        ("{platform: shopify, shop_domain: Acme.MyShopify.com, webhook_secret_env: X}", "shop_domain"),
        ("{platform: shopify, shop_domain: acme.myshopify.com, webhook_secret_env: shpss_0a1b2c3d}", "not a secret"),
        ("{platform: magento, shop_domain: acme.myshopify.com, webhook_secret_env: X}", "platform"),
    ],
)
def test_a_store_that_could_never_be_matched_or_verified_is_refused(store: str, problem: str) -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy_text(BASE + f"store: {store}\n", "acme.yaml")
    assert problem in str(refused.value) and "acme.yaml:3" in str(refused.value)


def test_two_merchants_cannot_connect_one_shop(tmp_path: Path) -> None:
    store = "store: {platform: shopify, shop_domain: acme.myshopify.com, webhook_secret_env: S}\n"
    (tmp_path / "a.yaml").write_text(BASE + store)
    (tmp_path / "b.yaml").write_text(BASE.replace("acme", "other") + store)
    with pytest.raises(PolicyError, match="already connected by"):
        load_policy_dir(tmp_path)


def test_a_policy_without_a_store_keeps_the_hash_it_had() -> None:
    """Journeys record their policy's hash: adding the section must not change every merchant's."""
    loaded = load_policy_text(BASE)
    assert "store" not in loaded.policy.model_dump(mode="json")
    assert loaded.hash == "f323440eb0a7a797"  # what it is on main without the section (at 9435de8)
