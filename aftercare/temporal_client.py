"""The one way Aftercare connects to Temporal: the worker, the API and any command that needs a client.

Where (AFTERCARE_TEMPORAL_ADDRESS, else the embedded stack's AFTERCARE_TEMPORAL_HOST:PORT), which namespace,
and how: plain (the dev server), TLS with a private CA and/or a client certificate (self-hosted mTLS), or an
API key over TLS (Temporal Cloud). Every client speaks the production data converter (`aftercare.codec`) and
says who it is. A process started before Temporal waits for it with capped back-off. The worker's client carries
the process's metrics runtime and, like every client, tracing when configured (`aftercare.telemetry`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from aftercare.codec import data_converter, load_keys
from aftercare.senders import SenderInterceptor
from aftercare.settings import Settings
from aftercare.telemetry import temporal_runtime, tracing_interceptors

log = logging.getLogger("aftercare.temporal")


class TemporalSettingsError(SystemExit):
    """A connection setting that cannot be used (a file missing or unreadable): the message names the variable
    and the file, never what is in it. A SystemExit, like every settings error: the process stops with it."""


@dataclass(frozen=True)
class ConnectOptions:
    """What `Client.connect` gets besides the converter: built from settings alone, without a server."""

    target_host: str
    namespace: str
    tls: TLSConfig | bool
    api_key: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """Where and how, for the log: the address, namespace and kind of security, never a secret."""
        how = "over TLS" if self.tls else "without TLS"
        if isinstance(self.tls, TLSConfig) and self.tls.client_cert:
            how += " with a client certificate"
        if self.api_key:
            how += " with an API key"
        return f"{self.target_host} (namespace {self.namespace}) {how}"

    def credentials(self) -> str:
        """The variables that carry this connection's credentials, for an error that says what to check."""
        names = []
        if self.api_key:
            names.append("AFTERCARE_TEMPORAL_API_KEY")
        if isinstance(self.tls, TLSConfig) and self.tls.client_cert:
            names.append("AFTERCARE_TEMPORAL_TLS_CERT / _KEY")
        return " and ".join(names) or "no credentials (set AFTERCARE_TEMPORAL_API_KEY or _TLS_CERT / _KEY)"


def _read(variable: str, path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TemporalSettingsError(f"{variable}={str(path)!r}: no such file") from None
    except IsADirectoryError:
        raise TemporalSettingsError(f"{variable}={str(path)!r} is a directory; it must name a PEM file") from None
    except OSError as err:
        raise TemporalSettingsError(f"{variable}={str(path)!r} cannot be read: {err.strerror}") from None
    if not data.strip():
        raise TemporalSettingsError(f"{variable}={str(path)!r} is empty; it must hold a PEM file")
    return data


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS as settings ask: False (plain), True (TLS with the system's CAs), or a TLSConfig carrying the bytes
    of the CA, client certificate and key files and the server name to verify."""
    if not settings.temporal_uses_tls:
        return False
    ca, cert, key = settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_key
    if ca is None and cert is None and not settings.temporal_tls_server_name:
        return True
    return TLSConfig(
        server_root_ca_cert=_read("AFTERCARE_TEMPORAL_TLS_CA", ca) if ca else None,
        client_cert=_read("AFTERCARE_TEMPORAL_TLS_CERT", cert) if cert else None,
        client_private_key=_read("AFTERCARE_TEMPORAL_TLS_KEY", key) if key else None,
        domain=settings.temporal_tls_server_name or None,
    )


def connect_options(settings: Settings) -> ConnectOptions:
    """Address, namespace, TLS and API key from settings; files are read here, so a bad one stops start-up."""
    return ConnectOptions(
        target_host=settings.temporal_address,
        namespace=settings.namespace,
        tls=tls_config(settings),
        api_key=settings.temporal_api_key or None,
    )


def temporal_converter(settings: Settings) -> DataConverter:
    """The one data converter the worker, API, CLI and replayer use: pydantic, encrypted (`aftercare.codec`)."""
    return data_converter(load_keys(settings.home, settings.codec_keys))


def client_identity(component: str) -> str:
    """What Temporal records as the sender of this process's calls: `aftercare-api@host`, not `10483@vm`."""
    return f"aftercare-{component}@{socket.gethostname()}"


def client_interceptors(converter: DataConverter) -> list[Interceptor]:
    """Every client adds who sent a signal or start (`aftercare.senders`), so the timeline can say it."""
    return [SenderInterceptor(converter)]


async def connect(
    settings: Settings,
    *,
    component: str,
    retry_max_delay: float = 30.0,
    give_up_after: float | None = None,
) -> Client:
    """Connect to Temporal as settings say, waiting for it with capped back-off (a worker or API started before
    Temporal waits instead of exiting), and saying each time what it waits for. `give_up_after` seconds: then
    raise. Settings that cannot work (a missing certificate file) raise TemporalSettingsError at once."""
    options = connect_options(settings)
    converter = temporal_converter(settings)
    runtime = temporal_runtime(settings, component)
    interceptors = [*client_interceptors(converter), *tracing_interceptors(settings, component)]
    delay, waited = 0.5, 0.0
    while True:
        try:
            return await Client.connect(
                options.target_host,
                namespace=options.namespace,
                tls=options.tls,
                api_key=options.api_key,
                data_converter=converter,
                interceptors=interceptors,
                identity=client_identity(component),
                runtime=runtime,
            )
        except RPCError as err:
            if err.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
                raise TemporalSettingsError(
                    f"Temporal at {options.describe()} refused us ({err.status.name}: {err.message}); "
                    f"check {options.credentials()} and AFTERCARE_NAMESPACE"
                ) from None
            raise
        except RuntimeError as err:  # the SDK's "Failed client connect: ..." when nothing answers
            if give_up_after is not None and waited >= give_up_after:
                raise
            log.warning(
                "waiting for Temporal at %s: not reachable yet (%s); retrying in %.1fs",
                options.describe(),
                _reason(err),
                delay,
            )
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, retry_max_delay)


def _reason(err: Exception) -> str:
    """The last part of the SDK's nested connect error (e.g. "Connection refused"), one line."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    found = re.search(r'message: "([^"]+)"', text)
    return found.group(1) if found else text[:160]
