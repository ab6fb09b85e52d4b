"""A journey asks for each message through the provider its merchant's policy picks for the channel, with
the names (never the values) of the merchant's credential variables and the step's approved template."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain import Channel, ProviderTemplate, Step
from tests.workflows.harness import make_order, make_policy, next_monday_10utc, scenario

SHIPPED = {"name": "order_confirmed", "language": "en_US", "parameters": ["customer.first_name", "order.id"]}


async def test_requests_carry_the_merchants_provider_credential_names_and_template(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(
        channels={
            "email": {"provider": "sendgrid", "sender": "hello@acme.test",
                      "credentials_env": {"api_key": "ACME_SENDGRID_KEY"}},
            "sms": {"provider": "twilio", "sender": "+15555550000"},
            "whatsapp": {"provider": "whatsapp_cloud", "sender": "106540352242922",
                         "credentials_env": {"access_token": "ACME_WHATSAPP_TOKEN"},
                         "templates": {"confirmation": SHIPPED}},
        },
        steps={"confirmation": {"channels": ["email", "whatsapp"]}},
    )  # fmt: skip
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0, customer={"whatsapp_opt_in": True}), policy)
        await sc.advance_to(t0 + timedelta(minutes=1))
        requests = {r.channel: r for r in sc.provider.of_step(Step.CONFIRMATION.value)}

    email, whatsapp = requests[Channel.EMAIL], requests[Channel.WHATSAPP]
    assert (email.provider, email.credentials_env, email.template) == (
        "sendgrid", {"api_key": "ACME_SENDGRID_KEY"}, None
    )  # fmt: skip
    assert (whatsapp.provider, whatsapp.sender) == ("whatsapp_cloud", "106540352242922")
    assert whatsapp.credentials_env == {"access_token": "ACME_WHATSAPP_TOKEN"}
    assert whatsapp.template == ProviderTemplate.model_validate(SHIPPED)
    assert whatsapp.context["customer"]["first_name"] == "Ada"  # what the template's parameters read


async def test_requests_say_whether_a_send_a_crash_left_unconfirmed_may_go_out_again(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:  # the default: transactional steps may, marketing ones never
        await sc.start(make_order(t0), make_policy())
        await sc.advance_to(t0 + timedelta(minutes=1))
        [confirmation] = sc.provider.of_step(Step.CONFIRMATION.value)
    async with scenario(time_skipping_env) as sc:
        never_resend = make_policy(defaults={"quiet_hours": {}, "resend_unconfirmed": "never"})
        await sc.start(make_order(t0, order_id="1002"), never_resend)
        await sc.advance_to(t0 + timedelta(minutes=2))
        [never] = sc.provider.of_step(Step.CONFIRMATION.value)

    assert confirmation.resend_unconfirmed is True
    assert never.resend_unconfirmed is False
