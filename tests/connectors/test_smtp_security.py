"""SMTP with STARTTLS, implicit TLS and AUTH, over real sockets against a local relay that demands them.

The relay is aiosmtpd (what the sandbox's sink runs on) with a certificate made here, requiring TLS
before a login and a login before a message, as a merchant's real relay would (port 587 / 465).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.messaging import Endpoints, SmtpEmailSender, build_sender
from connectors.messaging.base import MessagingError, OutgoingMessage
from domain import Channel
from sandbox import SandboxState
from sandbox.smtp_sink import SinkController, SinkHandler

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

USER, PASSWORD = "acme-relay", "relay-password-1"
HOST = "127.0.0.1"


def _certificate(tmp: Path) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp / "cert.pem").write_bytes(pem)
    (tmp / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp / "cert.pem", tmp / "key.pem", pem.decode()


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


class Relay:
    def __init__(self, state: SandboxState, port: int, client_context: ssl.SSLContext) -> None:
        self.state, self.port, self.client_context = state, port, client_context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key, pem = _certificate(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cadata=pem)  # trusts this relay's certificate, checks the host name
    return server, client


def _relay(certificate: tuple[ssl.SSLContext, ssl.SSLContext], tls: str, **options: Any) -> Iterator[Relay]:
    """A sink relay on a free port that asks for a login; its certificate goes in as `tls` (aiosmtpd's
    `tls_context` for STARTTLS, `ssl_context` for a connection that is TLS from the start)."""
    server_context, client_context = certificate
    state = SandboxState()
    controller = SinkController(
        SinkHandler(state), hostname=HOST, port=0, auth_required=True, authenticator=_authenticator,
        **{tls: server_context}, **options,
    )  # fmt: skip
    controller.start()
    try:
        yield Relay(state, controller.port, client_context)
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def starttls_relay(certificate) -> Iterator[Relay]:
    yield from _relay(certificate, "tls_context", require_starttls=True, auth_require_tls=True)


@pytest.fixture(scope="module")
def tls_relay(certificate) -> Iterator[Relay]:
    # the whole connection is TLS; aiosmtpd only counts STARTTLS as TLS, so it is told not to insist
    yield from _relay(certificate, "ssl_context", auth_require_tls=False)


def email() -> OutgoingMessage:
    return OutgoingMessage(
        channel=Channel.EMAIL, recipient="ada@example.com", sender="Acme <orders@acme.example>",
        subject="Shipped", text="Your order shipped.", idempotency_key="order~acme~1:shipped:email",
    )  # fmt: skip


def sender(relay: Relay, security: str, password: str = PASSWORD, **kw: Any) -> SmtpEmailSender:
    return SmtpEmailSender(
        HOST, relay.port, USER, password, timeout=5, security=security,  # type: ignore[arg-type]
        tls_context=kw.pop("tls_context", relay.client_context), **kw,
    )  # fmt: skip


async def test_starttls_then_login_delivers(starttls_relay: Relay) -> None:
    starttls_relay.state.emails.clear()
    await sender(starttls_relay, "starttls").send(email())
    [got] = starttls_relay.state.emails
    assert got.rcpt_tos == ["ada@example.com"] and got.subject == "Shipped"


async def test_implicit_tls_then_login_delivers(tls_relay: Relay) -> None:
    tls_relay.state.emails.clear()
    await sender(tls_relay, "tls").send(email())
    assert [e.subject for e in tls_relay.state.emails] == ["Shipped"]


async def test_a_wrong_password_is_a_configuration_error_without_the_password(starttls_relay: Relay) -> None:
    with pytest.raises(MessagingError, match="rejected the login for 'acme-relay': 535") as caught:
        await sender(starttls_relay, "starttls", password="wrong-password").send(email())
    assert (caught.value.retryable, caught.value.recipient_fault) == (False, False)
    assert "wrong-password" not in str(caught.value)


async def test_no_starttls_to_a_relay_that_requires_it_is_a_configuration_error(starttls_relay: Relay) -> None:
    with pytest.raises(MessagingError) as caught:
        await sender(starttls_relay, "none").send(email())
    assert (caught.value.retryable, caught.value.recipient_fault) == (False, False)
    assert "AUTH" in str(caught.value) or "STARTTLS" in str(caught.value)


async def test_an_untrusted_certificate_fails_loudly_and_is_not_retried(tls_relay: Relay) -> None:
    with pytest.raises(MessagingError, match=r"TLS failed.*security setting \(tls\)") as caught:
        await sender(tls_relay, "tls", tls_context=ssl.create_default_context()).send(email())
    assert (caught.value.retryable, caught.value.maybe_sent) == (False, False)


async def test_plain_smtp_to_an_implicit_tls_port_is_not_mistaken_for_delivery(tls_relay: Relay) -> None:
    with pytest.raises(MessagingError) as caught:
        await sender(tls_relay, "none").send(email())
    assert caught.value.maybe_sent is False


def test_build_sender_reads_security_from_the_merchants_credentials() -> None:
    creds = {"host": "smtp.acme.example", "port": "465", "username": USER, "password": PASSWORD, "security": "tls"}
    built = build_sender(Channel.EMAIL, "smtp", None, creds, endpoints=Endpoints())
    assert isinstance(built, SmtpEmailSender)
    assert (built.host, built.port, built.security, built.username) == ("smtp.acme.example", 465, "tls", USER)
    older = build_sender(Channel.EMAIL, "smtp", None, {"starttls": "true"}, endpoints=Endpoints())
    assert isinstance(older, SmtpEmailSender) and older.security == "starttls"
    with pytest.raises(ValueError, match="security credential must be one of none, starttls, tls"):
        build_sender(Channel.EMAIL, "smtp", None, {"security": "ssl3"}, endpoints=Endpoints())
    with pytest.raises(ValueError, match="port credential is not a number"):
        build_sender(Channel.EMAIL, "smtp", None, {"port": "five"}, endpoints=Endpoints())


async def test_a_login_without_tls_to_a_remote_relay_is_refused_before_connecting() -> None:
    remote = SmtpEmailSender("203.0.113.7", 25, USER, PASSWORD, timeout=1)  # TEST-NET-3: never contacted
    with pytest.raises(MessagingError, match="without TLS would send the password in clear") as caught:
        await remote.send(email())
    assert caught.value.retryable is False and PASSWORD not in str(caught.value)
