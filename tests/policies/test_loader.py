"""The policy loader: every problem in a file, each at its exact file:line:column, in plain words."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain import Channel
from policies.durations import Duration
from policies.loader import (
    LoadedPolicy,
    PolicyError,
    PolicyProblem,
    load_policy,
    load_policy_dir,
    load_policy_text,
    policy_for_merchant,
)
from policies.schema import Policy

FIXTURES = Path(__file__).parent / "fixtures"
FILE = "policies/acme.yaml"
DURATION_HINT = "use a whole number and a unit: 30m, 36h, 2d, 1w, or 3bd for business days"


def problems(text: str) -> list[str]:
    """Every problem line the loader reports for `text`, as a merchant would read them."""
    return reported(load_policy_text, textwrap.dedent(text), FILE)


def refusal(load: Callable[..., object], *args: object) -> PolicyError:
    """What `load(*args)` raises: a PolicyError with every problem it found."""
    with pytest.raises(PolicyError) as caught:
        load(*args)
    return caught.value


def reported(load: Callable[..., object], *args: object) -> list[str]:
    """The problem lines `load(*args)` is refused with."""
    return [str(p) for p in refusal(load, *args).problems]


HEADER = """\
merchant:
  id: acme
  name: Acme Goods
channels:
  email: {provider: smtp, sender: orders@acme.test}
"""


# -- a valid file -------------------------------------------------------------------------------


def test_valid_file_loads_with_its_hash_and_path() -> None:
    loaded = load_policy(FIXTURES / "valid.yaml")
    assert isinstance(loaded, LoadedPolicy)
    assert loaded.merchant_id == "acme"
    assert loaded.path == str(FIXTURES / "valid.yaml")
    assert loaded.hash == loaded.policy.content_hash()
    assert len(loaded.hash) == 16
    assert loaded.policy.variants[0].override == {"steps": {"review_request": {"after": "21d"}}}


def test_hash_follows_meaning_not_formatting() -> None:
    compact = load_policy_text(HEADER + "steps: {follow_up: {after: 4d}}\n", FILE)
    spelled = load_policy_text(
        "# comments and key order do not matter\n"
        "channels:\n  email:\n    sender: orders@acme.test\n    provider: smtp\n"
        "steps:\n  follow_up:\n    after: 4d   # later than the default\n"
        "merchant: {name: Acme Goods, id: acme}\n",
        FILE,
    )
    changed = load_policy_text(HEADER + "steps: {follow_up: {after: 5d}}\n", FILE)
    assert compact.hash == spelled.hash
    assert compact.hash != changed.hash


# -- YAML itself ----------------------------------------------------------------------------------


def test_syntax_error_names_the_line_and_what_the_parser_expected() -> None:
    path = FIXTURES / "syntax_error.yaml"
    assert reported(load_policy, path) == [
        f"{path}:4:6: YAML syntax error: expected ',' or ']', but got ':' "
        f"(while parsing a flow sequence started at line 3, column 9)"
    ]


YAML_PROBLEMS = {
    "duplicate_key_points_at_the_second_one": (
        HEADER + "steps:\n  follow_up: {after: 2d}\n  follow_up: {after: 3d}\n",
        [f"{FILE}:8:3: steps.follow_up: duplicate key 'follow_up' (first defined at line 7)"],
    ),
    "empty_file": (
        "",
        [f"{FILE}:1:1: the file is empty; a policy needs at least merchant: {{id: ..., name: ...}}"],
    ),
    "non_mapping_file": (
        "- merchant\n",
        [f"{FILE}:1:1: a policy is a mapping of sections (merchant, channels, steps, ...), not a value"],
    ),
    "a_bare_number_is_not_a_time_of_day": (
        HEADER + "defaults:\n  quiet_hours:\n    sms: {start: 2100, end: '08:00'}\n",
        [f'{FILE}:8:11: defaults.quiet_hours.sms.start: 2100 is not a time of day; write it as "HH:MM", e.g. "21:00"'],
    ),
}


@pytest.mark.parametrize(("text", "reported"), YAML_PROBLEMS.values(), ids=YAML_PROBLEMS.keys())
def test_yaml_problems_are_named_where_they_are_written(text: str, reported: list[str]) -> None:
    assert problems(text) == reported


def test_yaml_1_1_traps_are_read_as_a_merchant_means_them() -> None:
    """Unquoted 21:00 is 1260 in YAML 1.1 and NO (Norway) is false; here they stay a time and a country."""
    loaded = load_policy_text(
        HEADER
        + "defaults:\n  quiet_hours:\n    sms: {start: 21:00, end: 08:00}\n"
        + "variants:\n  - name: nordics\n    when: {country_in: [NO, SE]}\n"
        + "    override: {steps: {review_request: {after: 21d}}}\n",
        FILE,
    )
    quiet = loaded.policy.defaults.quiet_hours[Channel.SMS]
    assert (quiet.start, quiet.end) == (time(21, 0), time(8, 0))
    assert loaded.policy.variants[0].when.country_in == ["NO", "SE"]


# -- unknown keys ---------------------------------------------------------------------------------


UNKNOWN_KEYS = {
    "top_level_key_suggests_the_close_one": (
        HEADER + "stepz:\n  follow_up: {after: 2d}\n",
        [f"{FILE}:6:1: stepz: unknown key 'stepz'; did you mean 'steps'?"],
    ),
    "nested_key_suggests_the_close_one": (
        HEADER + "steps:\n  reviw_request:\n    after: 14d\n",
        [f"{FILE}:7:3: steps.reviw_request: unknown key 'reviw_request'; did you mean 'review_request'?"],
    ),
    "without_a_close_match_lists_the_valid_ones": (
        HEADER + "tracking:\n  frequency: 2h\n",
        [
            f"{FILE}:7:3: tracking.frequency: unknown key 'frequency'; valid keys: provider, webhook_secret_env, "
            f"poll_every, poll_backoff, poll_max_interval, expire_after, give_up_after"
        ],
    ),
    "inside_a_variant_override_at_its_own_line": (
        HEADER
        + """\
variants:
  - name: international
    when: {country_not_in: [US]}
    override:
      steps:
        reviw_request: {after: 21d}
""",
        [
            f"{FILE}:11:9: variants[0].override.steps.reviw_request: unknown key 'reviw_request'; "
            f"did you mean 'review_request'?"
        ],
    ),
    "variant_override_sections_are_checked_too": (
        HEADER
        + """\
variants:
  - name: vip
    when: {tags_any: [vip]}
    override:
      stepz: {}
      merchant: {name: VIP}
""",
        [
            f"{FILE}:10:7: variants[0].override.stepz: unknown key 'stepz'; did you mean 'steps'?",
            f"{FILE}:11:7: variants[0].override.merchant: a variant cannot override 'merchant'; it may set: "
            f"defaults, steps, delays, tracking, reorder, returns, cancellation",
        ],
    ),
}


@pytest.mark.parametrize(("text", "reported"), UNKNOWN_KEYS.values(), ids=UNKNOWN_KEYS.keys())
def test_an_unknown_key_is_named_with_the_close_one_or_the_valid_ones(text: str, reported: list[str]) -> None:
    assert problems(text) == reported


# -- values ---------------------------------------------------------------------------------------


BAD_VALUES = {
    "duration_says_what_a_duration_looks_like": (
        HEADER + "steps:\n  review_request:\n    after: 2x\n",
        [f"{FILE}:8:5: steps.review_request.after: '2x' is not a duration; {DURATION_HINT}"],
    ),
    "duration_inside_a_variant_override": (
        HEADER + "variants:\n  - name: v\n    when: {}\n    override:\n      delays: {stalled_after: soon}\n",
        [f"{FILE}:10:16: variants[0].override.delays.stalled_after: 'soon' is not a duration; {DURATION_HINT}"],
    ),
    "enum_value_names_the_valid_ones": (
        HEADER + "steps:\n  shipped: {channels: [email, fax]}\n",
        [f"{FILE}:7:31: steps.shipped.channels[1]: 'fax' is not a channel; valid: email, sms, whatsapp"],
    ),
    "enum_key_suggests_a_close_value": (
        HEADER + "defaults:\n  caps:\n    emial: {window: 16h}\n",
        [
            f"{FILE}:8:5: defaults.caps.emial: 'emial' is not a channel; did you mean 'email'? "
            f"valid: email, sms, whatsapp"
        ],
    ),
    "literal_value_names_the_valid_ones": (
        HEADER + "steps:\n  review_request: {per: sku}\n",
        [f"{FILE}:7:20: steps.review_request.per: 'sku' is not a valid per; valid: order, item"],
    ),
    "missing_required_field_in_a_section": (
        "merchant:\n  id: acme\n",
        [f"{FILE}:1:1: merchant: missing required field 'name'"],
    ),
    "missing_required_section": (
        "steps: {}\n",
        [f"{FILE}:1:1: missing required field 'merchant'"],
    ),
    "missing_required_field_in_a_list_entry": (
        HEADER + "reorder:\n  - skus: [COFFEE-*]\n",
        [f"{FILE}:7:5: reorder[0]: missing required field 'supply_days_per_unit'"],
    ),
    "timezone_typo_is_caught_at_load_time": (
        "merchant: {id: acme, name: Acme, timezone: Europe/Pariss}\n",
        [f"{FILE}:1:34: merchant.timezone: 'Europe/Pariss' is not a time zone; did you mean 'Europe/Paris'?"],
    ),
    "model_validator_errors_point_at_the_offending_key": (
        HEADER + "tracking:\n  poll_every: 1bd\n",
        [f"{FILE}:7:3: tracking.poll_every: must be calendar time (m, h, d, w), not business days"],
    ),
}


@pytest.mark.parametrize(("text", "reported"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_a_bad_value_says_what_it_should_be(text: str, reported: list[str]) -> None:
    assert problems(text) == reported


# -- channels -------------------------------------------------------------------------------------


CHANNEL_PROBLEMS = {
    "step_using_an_unconfigured_channel_points_at_its_channels_key": (
        HEADER + "steps:\n  shipped:\n    channels: [email, sms]\n",
        [f"{FILE}:8:5: steps.shipped.channels: uses 'sms', which is not configured under channels (configured: email)"],
    ),
    "unconfigured_channel_in_a_variant_override": (
        HEADER
        + "variants:\n  - name: v\n    when: {}\n    override:\n      steps:\n"
        + "        follow_up: {channels: [whatsapp]}\n",
        [
            f"{FILE}:11:21: variants[0].override.steps.follow_up.channels: uses 'whatsapp', which is not "
            f"configured under channels (configured: email)"
        ],
    ),
    "secret_value_in_credentials_env_is_refused": (
        "merchant: {id: acme, name: Acme}\nchannels:\n  email:\n    provider: smtp\n"
        + "    sender: orders@acme.test\n    credentials_env:\n      password: hunter2\n",
        [
            f"{FILE}:7:7: channels.email.credentials_env.password: must name an environment variable like "
            f"TWILIO_AUTH_TOKEN, not a secret value"
        ],
    ),
}


@pytest.mark.parametrize(("text", "reported"), CHANNEL_PROBLEMS.values(), ids=CHANNEL_PROBLEMS.keys())
def test_a_channel_problem_points_at_its_key(text: str, reported: list[str]) -> None:
    assert problems(text) == reported


def test_default_step_channel_missing_points_at_the_channels_section() -> None:
    text = "merchant: {id: acme, name: Acme}\nchannels:\n  sms: {provider: twilio, sender: '+15555550100'}\n"
    found = problems(text)
    assert len(found) == 11  # every step defaults to email
    assert found[0] == (
        f"{FILE}:2:1: steps.confirmation.channels: uses 'email', which is not configured under channels "
        f"(configured: sms)"
    )


def test_credential_value_in_yaml_is_refused() -> None:
    path = FIXTURES / "secret.yaml"
    error = refusal(load_policy, path)
    assert [str(p) for p in error.problems] == [
        f"{path}:6:5: channels.sms.auth_token: 'auth_token' looks like a credential, and secrets never "
        f"belong in a policy file; name the environment variable that holds it under credentials_env "
        f"instead: credentials_env: {{auth_token: TWILIO_AUTH_TOKEN}}"
    ]
    assert "3f9a1c0d2b7e4f5a" not in str(error)  # the secret is never echoed


def test_a_stripe_key_in_the_payments_section_is_refused_and_never_echoed() -> None:
    text = "merchant: {id: acme, name: Acme}\npayments:\n  provider: stripe\n  secret_key: sk_live_51Hx9q\n"
    assert problems(text) == [
        f"{FILE}:2:1: payments: missing required field 'credentials_env'",
        f"{FILE}:4:3: payments.secret_key: 'secret_key' looks like a credential, and secrets never belong in a "
        f"policy file; name the environment variable that holds it under credentials_env instead: "
        f"credentials_env: {{secret_key: STRIPE_SECRET_KEY}}",
    ]
    pasted = "merchant: {id: acme, name: Acme}\npayments:\n  credentials_env: {secret_key: sk_live_51Hx9q}\n"
    [problem] = problems(pasted)
    assert "must name an environment variable like ACME_STRIPE_SECRET_KEY, not a secret value" in problem
    assert "sk_live_51Hx9q" not in problem


def test_payments_name_the_variable_with_the_merchants_own_key() -> None:
    text = "merchant: {id: acme, name: Acme}\npayments:\n  credentials_env: {secret_key: ACME_STRIPE_SECRET_KEY}\n"
    policy = load_policy_text(text, FILE).policy
    assert policy.payments is not None and policy.payments.provider == "stripe"
    assert policy.payments.credentials_env == {"secret_key": "ACME_STRIPE_SECRET_KEY"}


# -- all problems at once -------------------------------------------------------------------------


def test_two_problems_in_one_file_are_both_reported_in_line_order() -> None:
    path = FIXTURES / "two_problems.yaml"
    error = refusal(load_policy, path)
    assert error.problems == [
        PolicyProblem(str(path), 6, 5, "steps.follow_up.after", f"'2x' is not a duration; {DURATION_HINT}"),
        PolicyProblem(
            str(path), 7, 3, "steps.reviw_request", "unknown key 'reviw_request'; did you mean 'review_request'?"
        ),
    ]
    assert str(error) == "\n".join(str(p) for p in error.problems)
    assert isinstance(error, ValueError)


TOGETHER = {
    # pydantic skips model validators after a field error; the loader does not leave them for later.
    "channel_check_still_runs_when_another_section_is_broken": (
        HEADER + "steps:\n  shipped: {channels: [sms]}\ndelays:\n  stalled_after: 3 days\n",
        [
            f"{FILE}:7:13: steps.shipped.channels: uses 'sms', which is not configured under channels "
            f"(configured: email)",
            f"{FILE}:9:3: delays.stalled_after: '3 days' is not a duration; {DURATION_HINT}",
        ],
    ),
    "base_and_variant_problems_together_without_repeats": (
        HEADER
        + """\
steps:
  follow_up: {after: 2x}
variants:
  - name: v
    when: {total_at_least: lots}
    override:
      steps: {follow_up: {after: 3y}}
""",
        [
            f"{FILE}:7:15: steps.follow_up.after: '2x' is not a duration; {DURATION_HINT}",
            f"{FILE}:10:12: variants[0].when.total_at_least: expected a number, got 'lots'",
            f"{FILE}:12:27: variants[0].override.steps.follow_up.after: '3y' is not a duration; {DURATION_HINT}",
        ],
    ),
}


@pytest.mark.parametrize(("text", "reported"), TOGETHER.values(), ids=TOGETHER.keys())
def test_every_problem_is_reported_at_once(text: str, reported: list[str]) -> None:
    assert problems(text) == reported


# -- directories ----------------------------------------------------------------------------------


def test_load_policy_dir_maps_merchants_and_refuses_a_shared_id(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text((FIXTURES / "valid.yaml").read_text())
    (tmp_path / "other.yml").write_text("merchant: {id: other, name: Other}\n")
    (tmp_path / "notes.txt").write_text("not a policy")
    policies = load_policy_dir(tmp_path)
    assert sorted(policies) == ["acme", "other"]
    assert policy_for_merchant(tmp_path, "other").policy.merchant.name == "Other"
    assert policy_for_merchant(tmp_path, "unknown", default="acme").merchant_id == "acme"
    with pytest.raises(LookupError, match=r"no policy for merchant 'unknown' .* \(merchants: acme, other\)"):
        policy_for_merchant(tmp_path, "unknown")

    (tmp_path / "zz-copy.yaml").write_text((FIXTURES / "same_merchant.yaml").read_text())
    assert reported(load_policy_dir, tmp_path) == [
        f"{tmp_path / 'zz-copy.yaml'}:3:3: merchant.id: merchant id 'acme' is already used by {tmp_path / 'acme.yaml'}"
    ]


def test_load_policy_dir_reports_problems_from_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("merchant: {id: a}\n")
    (tmp_path / "b.yaml").write_text("merchant: {id: b, name: B, colour: red}\n")
    assert reported(load_policy_dir, tmp_path) == [
        f"{tmp_path / 'a.yaml'}:1:1: merchant: missing required field 'name'",
        f"{tmp_path / 'b.yaml'}:1:28: merchant.colour: unknown key 'colour'; valid keys: id, name, "
        f"timezone, support_email, links",
    ]


def test_variant_durations_survive_the_merge() -> None:
    loaded = load_policy(FIXTURES / "valid.yaml")
    assert loaded.policy.steps.review_request.after == Duration(14, "d")
    assert loaded.policy.variants[0].name == "big-orders"


def test_policy_built_without_the_loader_names_the_variant_at_fault() -> None:
    """API callers validating JSON directly get the variant's path, not a base-looking location."""
    data = {
        "merchant": {"id": "acme", "name": "Acme"},
        "variants": [{"name": "v", "when": {}, "override": {"steps": {"reviw_request": {}}}}],
    }
    with pytest.raises(ValidationError) as caught:
        Policy.model_validate(data)
    (error,) = caught.value.errors()
    assert error["loc"] == ()
    assert error["msg"] == "Value error, variants[0].override.steps.reviw_request: Extra inputs are not permitted"


def test_polling_faster_than_every_ten_seconds_is_refused() -> None:
    text = "merchant: {id: m, name: M}\ntracking:\n  poll_every: 1s\n"
    assert reported(load_policy_text, text, "fast.yaml") == [
        "fast.yaml:3:3: tracking.poll_every: 1s is too short; poll at most every 10s (e.g. 10s, 2h)"
    ]


# -- link templates, locale -----------------------------------------------------------------------

VALID_PLACEHOLDERS = "valid placeholders: {order_id}, {sku}, {tracking_number}"


@pytest.mark.parametrize(
    ("template", "column", "says"),
    [
        ("https://shop.test/track/{0}", 5, "{0} is not a placeholder a link can use"),
        ("https://shop.test/track/{nope}", 5, "{nope} is not a placeholder a link can use"),
        ("https://shop.test/track/{order_id!r}", 5, "{order_id!r} is not a placeholder"),
        ("https://shop.test/track/{tracking_number", 5, "has a malformed placeholder (expected '}'"),
        ("https://shop.test/track/tracking_number}", 5, "has a malformed placeholder (Single '}'"),
    ],
)
def test_a_link_template_with_a_bad_placeholder_is_refused_where_it_is_written(
    template: str, column: int, says: str
) -> None:
    text = "merchant:\n  id: acme\n  name: Acme\n  links:\n    review: https://shop.test/r/{order_id}\n"
    text += f"    tracking: {template}\n"
    (problem,) = problems(text)
    assert problem.startswith(f"{FILE}:6:{column}: merchant.links.tracking: ")
    assert says in problem and problem.endswith(VALID_PLACEHOLDERS)


def test_valid_link_templates_load() -> None:
    text = (
        "merchant:\n  id: acme\n  name: Acme\n  links:\n    reorder: https://s.test/p/{sku}?from={order_id}&x={{y}}\n"
    )
    assert load_policy_text(text, FILE).policy.merchant.links["reorder"].endswith("{{y}}")


def test_policy_locale_and_an_overlong_timezone_are_refused_at_load_time() -> None:
    assert problems("merchant: {id: acme, name: Acme}\ndefaults:\n  locale: English please\n") == [
        f"{FILE}:3:3: defaults.locale: 'English please' is not a BCP 47 language tag; use one such as en, de or de-CH"
    ]
    (problem,) = problems(f"merchant: {{id: acme, name: Acme, timezone: {'A' * 300}}}\n")
    assert "merchant.timezone" in problem and "is not a time zone" in problem  # raised OSError before


def test_tracking_provider_is_one_we_have_a_connector_for() -> None:
    [problem] = problems(HEADER + "tracking:\n  provider: pigeon\n")
    assert problem.endswith(
        "tracking.provider: 'pigeon' is not a provider we can track through; "
        "valid: 17track, aftership, easypost, shippo"
    )


def test_a_merchants_webhook_secret_is_named_by_variable_never_pasted() -> None:
    [problem] = problems(HEADER + "tracking:\n  provider: aftership\n  webhook_secret_env: s3cr3t-value\n")
    assert "tracking.webhook_secret_env: must name an environment variable" in problem
    text = HEADER + "tracking:\n  provider: aftership\n  webhook_secret_env: ACME_AFTERSHIP_SECRET\n"
    loaded = load_policy_text(textwrap.dedent(text), FILE)
    assert loaded.policy.tracking.provider == "aftership"
    assert loaded.policy.tracking.webhook_secret_env == "ACME_AFTERSHIP_SECRET"
