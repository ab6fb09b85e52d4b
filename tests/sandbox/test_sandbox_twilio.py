"""The Twilio stand-in speaks Twilio: form posts, basic auth, Message JSON, Twilio error codes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox import RunningSandbox

SID = "AC" + "2" * 32
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"


@pytest.fixture
async def twilio(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.twilio_base_url, auth=(SID, "token"), timeout=5) as client:
        yield client


async def test_create_answers_201_with_twilio_message_json(twilio, control):
    resp = await twilio.post(MESSAGES, data={"To": "+14155550100", "From": "+15005550006", "Body": "Hello"})

    assert resp.status_code == 201
    msg = resp.json()
    assert msg["sid"].startswith("SM") and len(msg["sid"]) == 34
    assert msg["status"] == "queued" and msg["direction"] == "outbound-api"
    assert (msg["to"], msg["from"], msg["body"], msg["account_sid"]) == ("+14155550100", "+15005550006", "Hello", SID)
    assert msg["uri"] == f"/2010-04-01/Accounts/{SID}/Messages/{msg['sid']}.json"
    assert msg["num_segments"] == "1" and msg["error_code"] is None
    fetched = await twilio.get(f"/2010-04-01/Accounts/{SID}/Messages/{msg['sid']}.json")
    assert fetched.json() == msg


async def test_list_is_newest_first(twilio, control):
    for body in ("first", "second"):
        await twilio.post(MESSAGES, data={"To": "+14155550100", "From": "+15005550006", "Body": body})
    listed = (await twilio.get(MESSAGES)).json()
    assert [m["body"] for m in listed["messages"]] == ["second", "first"]
    assert listed["page"] == 0 and listed["next_page_uri"] is None


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"To": "4155550100", "From": "+15005550006", "Body": "x"}, 400, 21211),
        ({"To": "+14155550100", "From": "not a number!", "Body": "x"}, 400, 21212),
        ({"To": "+14155550100", "From": "+15005550006"}, 400, 21602),
        ({"From": "+15005550006", "Body": "x"}, 400, 21604),
        ({"To": "whatsapp:+14155550100", "From": "+15005550006", "Body": "x"}, 400, 63007),
    ],
)
async def test_bad_requests_get_twilio_error_codes(twilio, control, form, status, code):
    resp = await twilio.post(MESSAGES, data=form)
    assert resp.status_code == status
    err = resp.json()
    assert err["code"] == code and err["status"] == status and err["message"]
    assert err["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


async def test_credentials_must_match_the_account(sandbox, control):
    async with httpx.AsyncClient(base_url=sandbox.twilio_base_url) as client:
        other = await client.post(MESSAGES, data={"To": "+14155550100", "From": "+15005550006", "Body": "x"},
                                  auth=("AC" + "3" * 32, "token"))  # fmt: skip
    assert other.status_code == 401 and other.json()["code"] == 20003


async def test_fail_next_fails_exactly_the_next_sends(twilio, sandbox, control):
    await control.post("/_sandbox/twilio/fail-next", json={"status_code": 503, "count": 2})
    form = {"To": "+14155550100", "From": "+15005550006", "Body": "x"}
    statuses = [(await twilio.post(MESSAGES, data=form)).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert len(sandbox.state.texts) == 1
