"""The policy picks a provider per channel, names the merchant's credential variables, and the approved
WhatsApp template for each step; what cannot work is refused at load, at its file:line."""

from __future__ import annotations

import textwrap

import pytest

from domain import Channel, ProviderTemplate, Step
from policies.loader import PolicyError, load_policy_text

FILE = "policies/acme.yaml"
HEADER = "merchant: {id: acme, name: Acme Goods}\n"


def load(text: str):  # type: ignore[no-untyped-def]
    return load_policy_text(HEADER + textwrap.dedent(text), FILE).policy


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load(text)
    return [str(p) for p in caught.value.problems]


WHATSAPP_CLOUD = """\
channels:
  email: {provider: postmark, sender: orders@acme.example, credentials_env: {server_token: ACME_POSTMARK_TOKEN}}
  whatsapp:
    provider: whatsapp_cloud
    sender: "106540352242922"
    credentials_env: {access_token: ACME_WHATSAPP_TOKEN}
    templates:
      shipped: {name: order_shipped, language: en_US, parameters: [customer.first_name, order.id]}
steps:
  shipped: {channels: [email, whatsapp]}
"""


def test_each_channel_names_its_provider_credentials_and_templates() -> None:
    policy = load(WHATSAPP_CLOUD)
    email, whatsapp = policy.channels[Channel.EMAIL], policy.channels[Channel.WHATSAPP]
    assert (email.provider, email.credentials_env) == ("postmark", {"server_token": "ACME_POSTMARK_TOKEN"})
    assert whatsapp.templates == {
        Step.SHIPPED: ProviderTemplate(name="order_shipped", language="en_US",
                                       parameters=["customer.first_name", "order.id"])
    }  # fmt: skip


def test_a_whatsapp_cloud_step_without_a_template_is_refused_where_the_step_says_whatsapp() -> None:
    text = WHATSAPP_CLOUD + "  delay_alert: {channels: [whatsapp]}\n"
    assert problems(text) == [
        f"{FILE}:12:17: steps.delay_alert.channels: uses 'whatsapp' through whatsapp_cloud, which sends approved"
        " templates only: add channels.whatsapp.templates.delay_alert: {name: <template>, language: <code>}"
    ]


def test_a_variant_that_adds_a_whatsapp_step_needs_its_template_too() -> None:
    text = WHATSAPP_CLOUD + "variants:\n  - name: vip\n    when: {}\n    override:\n      steps:\n"
    text += "        follow_up: {channels: [whatsapp]}\n"
    [problem] = problems(text)
    assert problem.startswith(f"{FILE}:17:")
    assert "follow_up" in problem and "channels.whatsapp.templates.follow_up" in problem


def test_twilio_whatsapp_sends_text_and_needs_no_template() -> None:
    policy = load("""\
        channels:
          email: {provider: smtp, sender: a@b.example}
          whatsapp: {provider: twilio, sender: "+15555550199"}
        steps:
          shipped: {channels: [whatsapp]}
        """)
    assert policy.channels[Channel.WHATSAPP].templates == {}


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        ("  sms: {provider: sendgrid, sender: x}\n",
         "3:9: channels.sms.provider: 'sendgrid' cannot send sms; choose twilio"),
        ("  email: {provider: sendgrid, sender: a@b.example, credentials_env: {apikey: ACME_KEY}}\n",
         "3:70: channels.email.credentials_env.apikey: sendgrid takes api_key; not 'apikey'"),
        ("  sms: {provider: twilio, sender: '+1555', credentials_env: {account_sid: ACME_SID}}\n",
         "3:44: channels.sms.credentials_env: twilio needs auth_token too (or name no variables to use the"
         " worker's own credentials)"),
        ("  email:\n    provider: smtp\n    sender: a@b.example\n    templates: {shipped: {name: x, language: en}}\n",
         "6:5: channels.email.templates: only the whatsapp channel sends provider templates"),
    ],
)  # fmt: skip
def test_what_a_provider_cannot_take_is_refused_at_its_line(channels: str, expected: str) -> None:
    email = "  email: {provider: smtp, sender: a@b.example}\n" if "email" not in channels else ""
    assert problems("channels:\n" + channels + email) == [f"{FILE}:{expected}"]


def test_template_parameters_read_the_messages_context() -> None:
    text = WHATSAPP_CLOUD.replace("[customer.first_name, order.id]", "[customer.first_name, basket.total]")
    [problem] = problems(text)
    assert "channels.whatsapp.templates.shipped.parameters: 'basket.total' is not in the message's context" in problem
    bad_name = WHATSAPP_CLOUD.replace("name: order_shipped", "name: Order Shipped!")
    assert any("templates.shipped.name" in p for p in problems(bad_name))


def test_a_secret_pasted_into_credentials_env_is_refused() -> None:
    [problem] = problems("channels:\n  email: {provider: sendgrid, sender: a@b.example, credentials_env: "
                         "{api_key: SG.abcdef123}}\n")  # fmt: skip
    assert "must name an environment variable" in problem and "SG.abcdef123" not in problem.split(":", 3)[-1]
