"""The production data converter: pydantic payloads, encrypted with AES-GCM before Temporal stores them.

Every payload a journey carries holds customer data (names, emails, phone numbers, addresses), so every
payload is encrypted, and so are failure messages (an error can quote an address). Temporal sees the key
id in the payload's metadata and ciphertext, nothing else. Search attributes are not payloads the codec
touches; they hold ids, stages and flags only.

Keys rotate: `AFTERCARE_CODEC_KEYS` lists `id:base64-key` pairs, newest first. The first encrypts; all
of them decrypt, so histories written under an older key stay readable until that key is retired. With
no variable set, the embedded stack makes one key in `$AFTERCARE_HOME/codec.keys` (0600) on first use.

The worker, API, CLI and replayer all build their converter here, so they read each other's payloads.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEYS_ENV = "AFTERCARE_CODEC_KEYS"
KEY_FILE = "codec.keys"
_NONCE = 12
_KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class CodecKeyError(ValueError):
    """The key configuration is wrong; the message names the entry at fault and what would be valid."""


class UnknownKeyError(ValueError):
    """A payload was encrypted with a key this process does not hold (retired, or another deployment's)."""

    def __init__(self, key_id: str, known: Sequence[str]) -> None:
        super().__init__(
            f"payload encrypted with key id {key_id!r}, which is not among this process's keys "
            f"({', '.join(known)}); add it to {KEYS_ENV} to read it"
        )
        self.key_id = key_id


class TamperedPayloadError(ValueError):
    """The ciphertext does not authenticate under its key: changed, truncated, or the key is not that key."""


@dataclass(frozen=True)
class CodecKeys:
    """Key id -> 256-bit key, newest first: the first encrypts, all decrypt."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise CodecKeyError(f"{KEYS_ENV}: no keys given; expected id:base64-key[,id:base64-key...]")
        ids = [key_id for key_id, _ in self.keys]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise CodecKeyError(f"{KEYS_ENV}: key id {duplicates[0]!r} appears twice; each key needs its own id")

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @property
    def ids(self) -> list[str]:
        return [key_id for key_id, _ in self.keys]

    def get(self, key_id: str) -> bytes | None:
        return dict(self.keys).get(key_id)

    @classmethod
    def parse(cls, text: str, source: str = KEYS_ENV) -> CodecKeys:
        """`id:base64,id:base64` (newest first); commas or newlines separate, `#` starts a comment line."""
        entries = [e.strip() for line in text.splitlines() if not line.strip().startswith("#") for e in line.split(",")]
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate((e for e in entries if e), start=1):
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep or not _KEY_ID_PATTERN.match(key_id):
                raise CodecKeyError(
                    f"{source}: entry {position} is not id:base64-key (an id of letters, digits, '.', '_' or '-', "
                    f"up to 64 characters, then ':' and the key)"
                )
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error as err:
                raise CodecKeyError(f"{source}: key {key_id!r} is not valid base64 ({err})") from err
            if len(key) != 32:
                raise CodecKeyError(
                    f"{source}: key {key_id!r} is {len(key)} bytes; AES-256-GCM needs 32 "
                    f"(make one with `aftercare codec new-key`)"
                )
            keys.append((key_id, key))
        return cls(tuple(keys))

    @staticmethod
    def new_entry(key_id: str) -> str:
        """A fresh `id:base64-key` line."""
        return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the whole serialized payload; the key id is both metadata and associated data."""

    def __init__(self, keys: CodecKeys) -> None:
        self._keys = keys
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._keys.current_id
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was on, or not ours to open
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(key_id, self._keys.ids)
        data = payload.data
        try:
            plain = cipher.decrypt(data[:_NONCE], data[_NONCE:], key_id.encode())
        except InvalidTag as err:
            raise TamperedPayloadError(f"payload under key id {key_id!r} does not authenticate") from err
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def data_converter(keys: CodecKeys) -> DataConverter:
    """pydantic payloads, encrypted; failure messages and stack traces encrypted too."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def load_keys(home: Path, configured: str) -> CodecKeys:
    """`configured` (AFTERCARE_CODEC_KEYS, `Settings.codec_keys`) if set; otherwise this machine's key file,
    made on first use."""
    if configured.strip():
        return CodecKeys.parse(configured)
    path = home / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    return CodecKeys.parse(path.read_text(), source=str(path))


def _create_key_file(path: Path) -> None:
    """Written whole under a temporary name, then linked into place: the worker and the API start together,
    and neither may read a half-written file or replace the other's key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("# newest first; the first encrypts, all decrypt. Never commit this file.\n")
        out.write(CodecKeys.new_entry("local-1") + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process of the stack won the race; its key is the key
    finally:
        draft.unlink()
