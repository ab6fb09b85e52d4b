"""What an operator sees of the settings: every wrong variable named at once, secrets from files, `.env` read,
and a secret never shown, neither in an error nor in repr()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aftercare.runtime import default_credentials
from aftercare.settings import REPO_ROOT, Settings, SettingsError, variable_names

SECRET = "sk_live_do-not-show-me"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean slate: none of the settings' variables set, no .env read, home in tmp_path."""
    for name in variable_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AFTERCARE_ENV_FILE", "")
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path))
    return monkeypatch


def problems(**variables: str) -> list[str]:
    for name, value in variables.items():
        os.environ[name] = value
    try:
        with pytest.raises(SettingsError) as info:
            Settings()
    finally:
        for name in variables:
            del os.environ[name]
    assert str(info.value).count("\n") == len(info.value.problems)  # a heading, then one line each
    return info.value.problems


def test_every_wrong_variable_is_named_at_once_with_its_value_and_what_would_do(env: pytest.MonkeyPatch) -> None:
    assert problems(
        AFTERCARE_API_PORT="abc",
        AFTERCARE_TEMPORAL_PORT="70000",
        AFTERCARE_TEMPORAL_TLS="maybe",
        AFTERCARE_SMTP_SECURITY="ssl",
        AFTERCARE_MAX_BODY_BYTES="100",
        AFTERCARE_WORKER_MAX_ACTIVITIES="0",
        AFTERCARE_CONSOLE_SESSION_HOURS="twelve",
    ) == [
        "AFTERCARE_TEMPORAL_PORT='70000': must be a whole number between 1 and 65535",
        "AFTERCARE_TEMPORAL_TLS='maybe': must be on or off",
        "AFTERCARE_CONSOLE_SESSION_HOURS='twelve': must be a whole number from 1 up",
        "AFTERCARE_API_PORT='abc': must be a whole number between 1 and 65535",
        "AFTERCARE_MAX_BODY_BYTES='100': must be a whole number from 1024 up",
        "AFTERCARE_SMTP_SECURITY='ssl': must be one of none, starttls, tls",
        "AFTERCARE_WORKER_MAX_ACTIVITIES='0': must be a whole number from 1 up",
    ]


def test_values_are_typed_and_the_derived_defaults_follow_home(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("AFTERCARE_API_PORT", "9000")
    env.setenv("AFTERCARE_TEMPORAL_TLS", "on")
    env.setenv("AFTERCARE_CODEC_CORS_ORIGINS", "https://a.example, https://b.example,")
    env.setenv("AFTERCARE_SANDBOX_PORT", "9025")
    env.setenv("AFTERCARE_EASYPOST_API_KEY", "")  # empty is unset: the default
    settings = Settings()
    assert (settings.api_port, settings.temporal_tls) == (9000, True)
    assert settings.codec_cors_origins == ("https://a.example", "https://b.example")
    assert settings.database_url == f"sqlite:///{tmp_path / 'aftercare.db'}"
    assert settings.shippo_base_url == "http://127.0.0.1:9025/shippo"
    assert settings.easypost_api_key == "sandbox-key"
    assert Settings(home=tmp_path / "other").database_url == f"sqlite:///{tmp_path / 'other' / 'aftercare.db'}"


def test_a_secret_is_read_from_its_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "sendgrid").write_text(f"{SECRET}\n")
    env.setenv("AFTERCARE_SENDGRID_API_KEY_FILE", str(tmp_path / "sendgrid"))
    (tmp_path / "twilio").write_text("twilio-token")
    env.setenv("AFTERCARE_TWILIO_AUTH_TOKEN_FILE", str(tmp_path / "twilio"))
    settings = Settings()
    assert settings.sendgrid_api_key == SECRET
    assert settings.twilio_auth_token == "twilio-token"
    env.setenv("DEMO_STRIPE_SECRET_KEY_FILE", str(tmp_path / "sendgrid"))  # not Aftercare's: not read
    assert Settings().demo_stripe_secret_key == "sk_test_demo_merchant"


def test_the_smtp_login_reaches_the_email_sender_and_its_password_may_be_a_file(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "smtp").write_text(SECRET)
    env.setenv("AFTERCARE_SMTP_USERNAME", "relay-user")
    env.setenv("AFTERCARE_SMTP_PASSWORD_FILE", str(tmp_path / "smtp"))
    env.setenv("AFTERCARE_SMTP_SECURITY", "starttls")
    smtp = default_credentials(Settings())["smtp"]
    assert smtp == {"username": "relay-user", "password": SECRET, "security": "starttls"}


def test_a_secret_and_its_file_both_set_is_refused(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "key").write_text(SECRET)
    env.setenv("AFTERCARE_SHIPPO_API_KEY", SECRET)
    assert problems(AFTERCARE_SHIPPO_API_KEY_FILE=str(tmp_path / "key")) == [
        "AFTERCARE_SHIPPO_API_KEY and AFTERCARE_SHIPPO_API_KEY_FILE are both set; set one of them"
    ]


def test_an_unreadable_or_empty_secret_file_is_named_with_every_other_problem(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "empty").write_text("\n")
    assert problems(
        AFTERCARE_CODEC_KEYS_FILE=str(tmp_path / "missing"),
        AFTERCARE_POSTMARK_SERVER_TOKEN_FILE=str(tmp_path / "empty"),
        AFTERCARE_API_PORT="0",
    ) == [
        f"AFTERCARE_CODEC_KEYS_FILE='{tmp_path / 'missing'}': cannot be read (No such file or directory); "
        "give a readable file holding the secret",
        "AFTERCARE_API_PORT='0': must be a whole number between 1 and 65535",
        f"AFTERCARE_POSTMARK_SERVER_TOKEN_FILE='{tmp_path / 'empty'}': is empty; give a file holding the secret",
    ]


def test_a_secret_never_shows_in_an_error_or_in_repr(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("AFTERCARE_WHATSAPP_APP_SECRET", SECRET)
    env.setenv("AFTERCARE_TEMPORAL_API_KEY", SECRET)
    assert SECRET not in repr(Settings()) and SECRET not in str(Settings())
    wrong = problems(AFTERCARE_CODEC_KEYS=f"prod-1:{SECRET}")
    assert wrong == ["AFTERCARE_CODEC_KEYS: key 'prod-1' is not valid base64 (Only base64 data is allowed)"]
    # checks across variables come once each has a valid value
    (wrong,) = problems(AFTERCARE_TEMPORAL_TLS="off")
    assert wrong.startswith("AFTERCARE_TEMPORAL_TLS=off, but TLS is needed for AFTERCARE_TEMPORAL_API_KEY")
    assert SECRET not in wrong


def test_dot_env_is_read_and_the_environment_wins(
    env: pytest.MonkeyPatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "# compose's own variables sit here too\nPOSTGRES_PASSWORD=x\n"
        "AFTERCARE_NAMESPACE=from-dotenv\nAFTERCARE_TASK_QUEUE=from-dotenv\n"
        f"AFTERCARE_WHATSAPP_APP_SECRET_FILE={tmp_path / 'app-secret'}\n"
    )
    (tmp_path / "app-secret").write_text(SECRET)
    env.delenv("AFTERCARE_ENV_FILE")
    monkeypatch.chdir(tmp_path)  # by default, .env in the working directory
    env.setenv("AFTERCARE_TASK_QUEUE", "from-environment")
    settings = Settings()
    assert (settings.namespace, settings.task_queue) == ("from-dotenv", "from-environment")
    assert settings.whatsapp_app_secret == SECRET
    env.setenv("AFTERCARE_WHATSAPP_APP_SECRET", "from-environment")  # the environment wins over .env's NAME_FILE
    assert Settings().whatsapp_app_secret == "from-environment"


def test_env_file_points_elsewhere_and_must_exist(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "aftercare.env").write_text("AFTERCARE_API_PORT=8123\n")
    env.setenv("AFTERCARE_ENV_FILE", str(tmp_path / "aftercare.env"))
    assert Settings().api_port == 8123
    (tmp_path / "aftercare.env").write_text("AFTERCARE_API_PORT=http\n")
    assert problems() == ["AFTERCARE_API_PORT='http': must be a whole number between 1 and 65535"]
    env.setenv("AFTERCARE_ENV_FILE", str(tmp_path / "gone.env"))
    assert problems() == [
        f"AFTERCARE_ENV_FILE='{tmp_path / 'gone.env'}': no such file; point it at your .env file, or unset it"
    ]


def test_the_variable_list_holds_each_secret_s_file_form_and_the_odd_names() -> None:
    names = set(variable_names())
    assert {"AFTERCARE_API_PORT", "AFTERCARE_TEMPORAL_ADDRESS", "AFTERCARE_17TRACK_API_KEY_FILE"} <= names
    assert {"DEMO_STRIPE_SECRET_KEY", "TWILIO_AUTH_TOKEN", "AFTERCARE_CODEC_KEYS_FILE"} <= names
    # a merchant's variables (its policy names them) are read as they are, by code that knows no NAME_FILE
    assert "DEMO_STRIPE_SECRET_KEY_FILE" not in names and "TWILIO_AUTH_TOKEN_FILE" not in names
    assert {"AFTERCARE_WORKER_MAX_ACTIVITIES", "AFTERCARE_TOKEN_FILE", "AFTERCARE_ENV_FILE"} <= names
    assert "AFTERCARE_API_PORT_FILE" not in names  # not a secret


def test_a_process_started_with_a_wrong_variable_says_which_and_no_traceback(tmp_path: Path) -> None:
    env = os.environ | {
        "AFTERCARE_HOME": str(tmp_path),
        "AFTERCARE_API_PORT": "abc",
        "AFTERCARE_DEMO_NOTHING": "ignored",
        "AFTERCARE_TEMPORAL_API_KEY": SECRET,
        "AFTERCARE_TEMPORAL_TLS": "off",
    }
    done = subprocess.run(
        [sys.executable, "-m", "aftercare.cli", "db", "current"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "AFTERCARE_API_PORT='abc': must be a whole number between 1 and 65535" in done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stderr + done.stdout
