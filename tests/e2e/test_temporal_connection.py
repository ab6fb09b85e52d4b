"""The one connection factory on the dev server the suite runs, without TLS: it reaches the address and namespace
the settings name, as the component it says it is, and what it sends is encrypted by the production codec; and
through a TLS front door that requires a client certificate from our own CA (mTLS), with the files settings name."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from aftercare.settings import Settings
from aftercare.temporal_client import connect
from tests.conftest import TEST_CODEC_KEYS

pytestmark = pytest.mark.devserver


async def test_the_factory_reaches_the_dev_server_and_speaks_the_production_codec(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    for name in ("AFTERCARE_TEMPORAL_TLS", "AFTERCARE_TEMPORAL_API_KEY", "AFTERCARE_TEMPORAL_API_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AFTERCARE_TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("AFTERCARE_NAMESPACE", dev_env.client.namespace)
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path))
    monkeypatch.setenv("AFTERCARE_CODEC_KEYS", TEST_CODEC_KEYS)
    client = await connect(Settings(), component="cli", give_up_after=10)

    secret = f"customer-{uuid.uuid4()}@example.com"
    handle = await client.start_workflow(
        "NobodyRunsThis", secret, id=f"conn-{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4()}"
    )
    try:
        # a plain client (no codec) reading the same history: our start, under our name, sealed
        plain = await Client.connect(address, namespace=dev_env.client.namespace)
        history = await plain.get_workflow_handle(handle.id).fetch_history()
        started = next(e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
        attributes = started.workflow_execution_started_event_attributes
        assert attributes.identity.startswith("aftercare-cli@")
        [stored] = attributes.input.payloads
        assert secret.encode() not in stored.data
        assert stored.metadata["encoding"] == b"binary/encrypted"
        # and the factory's own client reads it back
        assert await client.data_converter.decode([stored], [str]) == [secret]
    finally:
        await handle.terminate()


# --- mutual TLS, for real: a TLS front door (our own CA, client certificates required) before the dev server ---


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    dns: str | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    signer_cert, signer_key = issuer if issuer else (None, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(signer_cert.subject if signer_cert else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False
        )
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signer_key, hashes.SHA256()), key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@asynccontextmanager
async def tls_front_door(backend: str, directory: Path, server_name: str) -> AsyncIterator[tuple[int, Path]]:
    """A TLS listener on a free loopback port that requires a client certificate from our CA and passes the
    bytes through to the plain dev server; yields its port and a directory holding ca.pem, client.pem/key."""
    ca = _issue("Aftercare test CA", None, ca=True)
    server_cert, server_key = _issue(server_name, ca, dns=server_name, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client_cert, client_key = _issue("aftercare-worker", ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    (directory / "ca.pem").write_bytes(_pem(ca[0]))
    (directory / "server.pem").write_bytes(_pem(server_cert))
    (directory / "server.key").write_bytes(_key_pem(server_key))
    (directory / "client.pem").write_bytes(_pem(client_cert))
    (directory / "client.key").write_bytes(_key_pem(client_key))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(directory / "ca.pem"))
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = backend.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], directory
    finally:
        server.close()


async def test_mutual_tls_reaches_temporal_behind_a_front_door_that_requires_our_certificate(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    backend = dev_env.client.service_client.config.target_host
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path))
    monkeypatch.setenv("AFTERCARE_CODEC_KEYS", TEST_CODEC_KEYS)
    monkeypatch.setenv("AFTERCARE_NAMESPACE", dev_env.client.namespace)
    for name in ("AFTERCARE_TEMPORAL_TLS", "AFTERCARE_TEMPORAL_API_KEY", "AFTERCARE_TEMPORAL_API_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    async with tls_front_door(backend, tmp_path, "frontend.temporal.test") as (port, certs):
        monkeypatch.setenv("AFTERCARE_TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
        monkeypatch.setenv("AFTERCARE_TEMPORAL_TLS_CA", str(certs / "ca.pem"))
        monkeypatch.setenv("AFTERCARE_TEMPORAL_TLS_SERVER_NAME", "frontend.temporal.test")

        # without a client certificate the door stays shut: the factory keeps waiting, then gives up
        with pytest.raises(RuntimeError, match="connect"):
            await connect(Settings(), component="worker", give_up_after=1.0)

        monkeypatch.setenv("AFTERCARE_TEMPORAL_TLS_CERT", str(certs / "client.pem"))
        monkeypatch.setenv("AFTERCARE_TEMPORAL_TLS_KEY", str(certs / "client.key"))
        client = await connect(Settings(), component="worker", give_up_after=10)
        handle = await client.start_workflow(
            "NobodyRunsThis", "over mTLS", id=f"mtls-{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4()}"
        )
        try:
            described = await dev_env.client.get_workflow_handle(handle.id).describe()  # seen on the server itself
            assert described.workflow_type == "NobodyRunsThis"
        finally:
            await handle.terminate()
