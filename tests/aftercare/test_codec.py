"""The payload codec: what Temporal stores holds no customer data, keys rotate without losing old payloads,
and a payload under a key we do not hold, or one changed in storage, is refused by name."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from aftercare.codec import (
    KEY_ID,
    CodecKeyError,
    CodecKeys,
    EncryptionCodec,
    TamperedPayloadError,
    UnknownKeyError,
    data_converter,
    load_keys,
)
from aftercare.settings import Settings
from domain import Order
from tests.workflows.harness import make_order


def an_order() -> Order:
    address = {"name": "Ada Lovelace", "line1": "12 Analytical Way", "city": "Austin", "country": "US"}
    return make_order(datetime(2026, 11, 2, 9, tzinfo=UTC), shipping_address=address)


OLD = CodecKeys.parse(CodecKeys.new_entry("2026-05"))


def _rotated() -> CodecKeys:
    """A new key in front of the old one: the new encrypts, both decrypt."""
    return CodecKeys(((CodecKeys.parse(CodecKeys.new_entry("2026-11")).keys[0]), *OLD.keys))


async def test_stored_payloads_hold_no_customer_data_and_decode_to_the_same_order() -> None:
    order = an_order()
    converter = data_converter(OLD)
    [stored] = await converter.encode([order])
    raw = stored.SerializeToString()
    for secret in ("ada@example.com", "+15555550100", "Lovelace", "12 Analytical Way"):
        assert secret.encode() not in raw
    assert stored.metadata[KEY_ID] == b"2026-05"
    [back] = await converter.decode([stored], [Order])
    assert back == order


async def test_after_rotation_new_payloads_use_the_new_key_and_old_ones_still_decode() -> None:
    order = an_order()
    [written_before] = await data_converter(OLD).encode([order])
    rotated = data_converter(_rotated())
    [written_after] = await rotated.encode([order])
    assert written_after.metadata[KEY_ID] == b"2026-11"
    assert await rotated.decode([written_before, written_after], [Order, Order]) == [order, order]


async def test_a_payload_under_an_unknown_key_id_is_refused_naming_it() -> None:
    [stored] = await data_converter(_rotated()).encode([an_order()])
    with pytest.raises(UnknownKeyError) as refused:
        await data_converter(OLD).decode([stored], [Order])
    assert "'2026-11'" in str(refused.value) and "2026-05" in str(refused.value)
    assert "AFTERCARE_CODEC_KEYS" in str(refused.value)


async def test_a_changed_payload_does_not_decode() -> None:
    codec = EncryptionCodec(OLD)
    [stored] = await data_converter(OLD).encode([an_order()])
    flipped = bytearray(stored.data)
    flipped[-1] ^= 1
    stored.data = bytes(flipped)
    with pytest.raises(TamperedPayloadError, match="2026-05"):
        await codec.decode([stored])


async def test_unencrypted_payloads_pass_through_so_older_histories_read() -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter

    [plain] = await pydantic_data_converter.encode(["hello"])
    assert await data_converter(OLD).decode([plain], [str]) == ["hello"]


async def test_failure_messages_are_encrypted_too() -> None:
    converter = data_converter(OLD)
    failure = Failure()
    await converter.encode_failure(ApplicationError("no such street: 12 Analytical Way"), failure)
    assert b"Analytical" not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert "12 Analytical Way" in str(decoded)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no keys given"),
        ("k1", "entry 1 is not id:base64-key"),
        ("k 1:AAAA", "entry 1 is not id:base64-key"),
        ("k1:not base64!", "key 'k1' is not valid base64"),
        ("k1:AAAA", "key 'k1' is 3 bytes; AES-256-GCM needs 32"),
    ],
)
def test_a_bad_key_configuration_names_the_entry_and_what_is_valid(text: str, words: str) -> None:
    with pytest.raises(CodecKeyError, match=words):
        CodecKeys.parse(text)


def test_a_key_id_used_twice_is_refused() -> None:
    entry = CodecKeys.new_entry("same")
    with pytest.raises(CodecKeyError, match="'same' appears twice"):
        CodecKeys.parse(f"{entry},{entry}")


def test_the_local_key_file_is_made_once_owner_only_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AFTERCARE_CODEC_KEYS", raising=False)
    first = load_keys(tmp_path, Settings().codec_keys)
    assert load_keys(tmp_path, "") == first  # a restart reads the same key
    assert os.stat(tmp_path / "codec.keys").st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["codec.keys"]  # no draft left behind
    monkeypatch.setenv("AFTERCARE_CODEC_KEYS", CodecKeys.new_entry("prod-1"))
    assert load_keys(tmp_path, Settings().codec_keys).current_id == "prod-1"
