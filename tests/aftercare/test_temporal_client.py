"""Reaching any Temporal from the environment: the address, the namespace, TLS with a private CA and a client
certificate (self-hosted mTLS), an API key (Temporal Cloud); settings that cannot work stop start-up with the
variable at fault named and no secret shown. All without a server (the dev server test is in tests/e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from aftercare.settings import Settings
from aftercare.stack import StackError, check_embedded_temporal
from aftercare.temporal_client import TemporalSettingsError, connect, connect_options
from api.services import web_ui_origins
from tests.conftest import TEST_CODEC_KEYS

VARIABLES = [
    "AFTERCARE_TEMPORAL_ADDRESS",
    "AFTERCARE_TEMPORAL_HOST",
    "AFTERCARE_TEMPORAL_PORT",
    "AFTERCARE_NAMESPACE",
    "AFTERCARE_TEMPORAL_TLS",
    "AFTERCARE_TEMPORAL_TLS_CERT",
    "AFTERCARE_TEMPORAL_TLS_KEY",
    "AFTERCARE_TEMPORAL_TLS_CA",
    "AFTERCARE_TEMPORAL_TLS_SERVER_NAME",
    "AFTERCARE_TEMPORAL_API_KEY",
    "AFTERCARE_TEMPORAL_API_KEY_FILE",
    "AFTERCARE_TEMPORAL_UI_URL",
]
API_KEY = "eyJhbGciOi.cloud-api-key-for-tests.c2lnbmF0dXJl"
CERT = b"-----BEGIN CERTIFICATE-----\nMIIBclientcert\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nMIIEprivatekeymaterial\n-----END PRIVATE KEY-----\n"
CA = b"-----BEGIN CERTIFICATE-----\nMIIBourprivateca\n-----END CERTIFICATE-----\n"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path))
    monkeypatch.setenv("AFTERCARE_CODEC_KEYS", TEST_CODEC_KEYS)
    return monkeypatch


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, Path]:
    files = {"cert": tmp_path / "client.pem", "key": tmp_path / "client.key", "ca": tmp_path / "ca.pem"}
    files["cert"].write_bytes(CERT)
    files["key"].write_bytes(KEY)
    files["ca"].write_bytes(CA)
    return files


def test_by_default_it_connects_to_the_embedded_dev_server_without_tls(env: pytest.MonkeyPatch) -> None:
    options = connect_options(Settings())
    assert (options.target_host, options.namespace, options.tls, options.api_key) == (
        "127.0.0.1:7233",
        "default",
        False,
        None,
    )


def test_the_old_host_and_port_variables_still_say_where(env: pytest.MonkeyPatch) -> None:
    env.setenv("AFTERCARE_TEMPORAL_HOST", "temporal.internal")
    env.setenv("AFTERCARE_TEMPORAL_PORT", "7300")
    assert connect_options(Settings()).target_host == "temporal.internal:7300"


def test_an_address_wins_over_host_and_port(env: pytest.MonkeyPatch) -> None:
    env.setenv("AFTERCARE_TEMPORAL_HOST", "127.0.0.1")
    env.setenv("AFTERCARE_TEMPORAL_ADDRESS", "temporal-frontend.prod.svc:7233")
    env.setenv("AFTERCARE_NAMESPACE", "aftercare-prod")
    options = connect_options(Settings())
    assert (options.target_host, options.namespace) == ("temporal-frontend.prod.svc:7233", "aftercare-prod")


@pytest.mark.parametrize("address", ["temporal.internal", "temporal.internal:port", ":7233", "host:70000"])
def test_an_address_without_a_port_is_refused_naming_the_variable(env: pytest.MonkeyPatch, address: str) -> None:
    env.setenv("AFTERCARE_TEMPORAL_ADDRESS", address)
    with pytest.raises(SystemExit, match=f"AFTERCARE_TEMPORAL_ADDRESS='{address}': must be host:port"):
        Settings()


def test_mutual_tls_sends_the_files_bytes_and_checks_the_server_name(
    env: pytest.MonkeyPatch, pem_files: dict[str, Path]
) -> None:
    env.setenv("AFTERCARE_TEMPORAL_ADDRESS", "temporal.internal:7233")
    env.setenv("AFTERCARE_TEMPORAL_TLS_CERT", str(pem_files["cert"]))
    env.setenv("AFTERCARE_TEMPORAL_TLS_KEY", str(pem_files["key"]))
    env.setenv("AFTERCARE_TEMPORAL_TLS_CA", str(pem_files["ca"]))
    env.setenv("AFTERCARE_TEMPORAL_TLS_SERVER_NAME", "frontend.temporal.internal")
    options = connect_options(Settings())
    assert options.tls == TLSConfig(
        server_root_ca_cert=CA, client_cert=CERT, client_private_key=KEY, domain="frontend.temporal.internal"
    )
    assert options.api_key is None
    assert options.describe() == (
        "temporal.internal:7233 (namespace default) over TLS with a client certificate"
    )  # what the waiting log line says


def test_a_private_ca_alone_turns_tls_on(env: pytest.MonkeyPatch, pem_files: dict[str, Path]) -> None:
    env.setenv("AFTERCARE_TEMPORAL_TLS_CA", str(pem_files["ca"]))
    assert connect_options(Settings()).tls == TLSConfig(server_root_ca_cert=CA)


def test_tls_on_alone_trusts_the_systems_certificate_authorities(env: pytest.MonkeyPatch) -> None:
    env.setenv("AFTERCARE_TEMPORAL_TLS", "on")
    assert connect_options(Settings()).tls is True


def test_an_api_key_connects_over_tls_and_never_shows(env: pytest.MonkeyPatch) -> None:
    env.setenv("AFTERCARE_TEMPORAL_ADDRESS", "aftercare.a1b2c.tmprl.cloud:7233")
    env.setenv("AFTERCARE_NAMESPACE", "aftercare.a1b2c")
    env.setenv("AFTERCARE_TEMPORAL_API_KEY", API_KEY)
    settings = Settings()
    options = connect_options(settings)
    assert (options.tls, options.api_key) == (True, API_KEY)
    assert API_KEY not in repr(settings) + repr(options) + options.describe()
    assert options.describe() == "aftercare.a1b2c.tmprl.cloud:7233 (namespace aftercare.a1b2c) over TLS with an API key"


def test_the_api_key_can_come_from_a_mounted_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "api-key").write_text(API_KEY + "\n")
    env.setenv("AFTERCARE_TEMPORAL_API_KEY_FILE", str(tmp_path / "api-key"))
    assert connect_options(Settings()).api_key == API_KEY


def test_an_api_key_given_twice_is_refused(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "api-key").write_text(API_KEY)
    env.setenv("AFTERCARE_TEMPORAL_API_KEY_FILE", str(tmp_path / "api-key"))
    env.setenv("AFTERCARE_TEMPORAL_API_KEY", API_KEY)
    with pytest.raises(SystemExit) as info:
        Settings()
    assert "AFTERCARE_TEMPORAL_API_KEY and AFTERCARE_TEMPORAL_API_KEY_FILE are both set" in str(info.value)
    assert API_KEY not in str(info.value)


def test_a_missing_api_key_file_is_named(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("AFTERCARE_TEMPORAL_API_KEY_FILE", str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match=r"AFTERCARE_TEMPORAL_API_KEY_FILE=.*nowhere': cannot be read"):
        Settings()


@pytest.mark.parametrize(("given", "missing"), [("CERT", "KEY"), ("KEY", "CERT")])
def test_half_a_client_certificate_is_refused(
    env: pytest.MonkeyPatch, pem_files: dict[str, Path], given: str, missing: str
) -> None:
    env.setenv(f"AFTERCARE_TEMPORAL_TLS_{given}", str(pem_files[given.lower()]))
    with pytest.raises(SystemExit) as info:
        Settings()
    assert f"AFTERCARE_TEMPORAL_TLS_{given} is set but AFTERCARE_TEMPORAL_TLS_{missing} is not" in str(info.value)


def test_tls_off_with_an_api_key_is_refused_rather_than_sending_the_key_in_clear(env: pytest.MonkeyPatch) -> None:
    env.setenv("AFTERCARE_TEMPORAL_TLS", "off")
    env.setenv("AFTERCARE_TEMPORAL_API_KEY", API_KEY)
    with pytest.raises(SystemExit) as info:
        Settings()
    assert "AFTERCARE_TEMPORAL_TLS=off, but TLS is needed for AFTERCARE_TEMPORAL_API_KEY" in str(info.value)
    assert API_KEY not in str(info.value)


def test_a_tls_switch_that_is_neither_on_nor_off_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("AFTERCARE_TEMPORAL_TLS", "required")
    with pytest.raises(SystemExit, match="AFTERCARE_TEMPORAL_TLS='required': must be on or off"):
        Settings()


def test_a_missing_certificate_file_is_named_with_its_variable(
    env: pytest.MonkeyPatch, pem_files: dict[str, Path], tmp_path: Path
) -> None:
    env.setenv("AFTERCARE_TEMPORAL_TLS_CERT", str(pem_files["cert"]))
    env.setenv("AFTERCARE_TEMPORAL_TLS_KEY", str(tmp_path / "gone.key"))
    with pytest.raises(TemporalSettingsError, match=r"AFTERCARE_TEMPORAL_TLS_KEY='.*gone.key': no such file"):
        connect_options(Settings())


def test_an_empty_or_directory_ca_is_named(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "empty.pem").write_bytes(b"\n")
    env.setenv("AFTERCARE_TEMPORAL_TLS_CA", str(tmp_path / "empty.pem"))
    with pytest.raises(TemporalSettingsError, match=r"AFTERCARE_TEMPORAL_TLS_CA=.* is empty"):
        connect_options(Settings())
    env.setenv("AFTERCARE_TEMPORAL_TLS_CA", str(tmp_path))
    with pytest.raises(TemporalSettingsError, match=r"AFTERCARE_TEMPORAL_TLS_CA=.* is a directory"):
        connect_options(Settings())


async def test_a_bad_file_stops_start_up_at_once_instead_of_waiting_for_temporal(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("AFTERCARE_TEMPORAL_TLS_CA", str(tmp_path / "missing-ca.pem"))
    with pytest.raises(TemporalSettingsError, match="AFTERCARE_TEMPORAL_TLS_CA"):
        await connect(Settings(), component="test", give_up_after=60)


async def test_refused_credentials_stop_start_up_naming_what_to_check(env: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    async def refusing(target_host: str, **kwargs: object) -> Client:
        seen.update(kwargs, target_host=target_host)
        raise RPCError("Request unauthorized", RPCStatusCode.UNAUTHENTICATED, b"")

    env.setattr(Client, "connect", refusing)
    env.setenv("AFTERCARE_TEMPORAL_ADDRESS", "aftercare.a1b2c.tmprl.cloud:7233")
    env.setenv("AFTERCARE_TEMPORAL_API_KEY", API_KEY)
    with pytest.raises(TemporalSettingsError) as info:
        await connect(Settings(), component="worker", give_up_after=60)
    message = str(info.value)
    assert "refused us (UNAUTHENTICATED: Request unauthorized)" in message
    assert "check AFTERCARE_TEMPORAL_API_KEY and AFTERCARE_NAMESPACE" in message
    assert API_KEY not in message
    # what the SDK was given: the key, over TLS, as the worker
    assert (seen["target_host"], seen["api_key"], seen["tls"]) == ("aftercare.a1b2c.tmprl.cloud:7233", API_KEY, True)
    assert str(seen["identity"]).startswith("aftercare-worker@")


def test_aftercare_up_refuses_settings_for_another_temporal(env: pytest.MonkeyPatch) -> None:
    check_embedded_temporal(Settings())  # the defaults: its own dev server
    env.setenv("AFTERCARE_TEMPORAL_ADDRESS", "127.0.0.1:7233")
    check_embedded_temporal(Settings())  # the same place, said the new way
    env.setenv("AFTERCARE_TEMPORAL_ADDRESS", "aftercare.a1b2c.tmprl.cloud:7233")
    env.setenv("AFTERCARE_TEMPORAL_API_KEY", API_KEY)
    with pytest.raises(StackError) as info:
        check_embedded_temporal(Settings())
    message = str(info.value)
    assert "AFTERCARE_TEMPORAL_ADDRESS=aftercare.a1b2c.tmprl.cloud:7233" in message
    assert "TLS (AFTERCARE_TEMPORAL_TLS / _TLS_* / _API_KEY)" in message
    assert API_KEY not in message


def test_the_web_ui_of_another_temporal_gets_the_links_and_may_call_the_codec(env: pytest.MonkeyPatch) -> None:
    assert Settings().temporal_ui_url == "http://127.0.0.1:8233"  # the embedded stack's
    env.setenv("AFTERCARE_TEMPORAL_UI_URL", "https://cloud.temporal.io/")
    settings = Settings()
    assert settings.temporal_ui_url == "https://cloud.temporal.io"
    assert web_ui_origins(settings.temporal_ui_url) == {"https://cloud.temporal.io"}
    env.setenv("AFTERCARE_TEMPORAL_UI_URL", "cloud.temporal.io")
    with pytest.raises(SystemExit, match=r"AFTERCARE_TEMPORAL_UI_URL='cloud\.temporal\.io': must start with https://"):
        Settings()
