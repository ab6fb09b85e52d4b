"""The delivery callback secrets of the embedded stack: the sandbox signs its messaging callbacks with them and the
API checks them, so `aftercare up` settles messages end to end with no setup.

A secret set in the environment (a real provider's) wins; otherwise the sandbox's. SendGrid signs with a private
key and we check with its public half: the stack makes a P-256 key pair once, keeps the private key under
AFTERCARE_HOME (owner only), hands it to the sandbox and the public key to the API as
AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY. Twilio signs with the account's auth token: the sandbox uses the token each
message was sent with, which the worker takes from TWILIO_AUTH_TOKEN (the sandbox's when unset).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from aftercare.settings import Settings
from sandbox.state import POSTMARK_WEBHOOK_PASSWORD, POSTMARK_WEBHOOK_USER, WHATSAPP_APP_SECRET

SANDBOX_TWILIO_TOKEN = "sandbox-token"
KEY_FILE = "sendgrid-event-webhook-key.der"


def sendgrid_key_pair(home: Path) -> tuple[str, str]:
    """(private, public) as base64 DER (PKCS#8, SubjectPublicKeyInfo); made once under `home`/sandbox."""
    path = home / "sandbox" / KEY_FILE
    if path.exists():
        key = serialization.load_der_private_key(path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey), f"{path} is not an elliptic curve key"
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(der)
    private = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def callback_env(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """(the sandbox's environment, the API's environment) for the messaging delivery callbacks."""
    shared = {
        "AFTERCARE_POSTMARK_WEBHOOK_USER": settings.postmark_webhook_user or POSTMARK_WEBHOOK_USER,
        "AFTERCARE_POSTMARK_WEBHOOK_PASSWORD": settings.postmark_webhook_password or POSTMARK_WEBHOOK_PASSWORD,
        "AFTERCARE_WHATSAPP_APP_SECRET": settings.whatsapp_app_secret or WHATSAPP_APP_SECRET,
    }
    twilio_token = os.environ.get("TWILIO_AUTH_TOKEN") or SANDBOX_TWILIO_TOKEN
    api = shared | {
        "AFTERCARE_TWILIO_AUTH_TOKEN": settings.twilio_auth_token or twilio_token,
        # the bundled policies name TWILIO_AUTH_TOKEN as their own account's token: the API checks their
        # merchant-scoped Twilio callbacks with it (api.callback_tenancy), the worker sends with it
        "TWILIO_AUTH_TOKEN": twilio_token,
    }
    sandbox = dict(shared)
    if settings.sendgrid_webhook_public_key:
        api["AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY"] = settings.sendgrid_webhook_public_key
    else:
        private, public = sendgrid_key_pair(settings.home)
        sandbox["AFTERCARE_SANDBOX_SENDGRID_SIGNING_KEY"] = private
        api["AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY"] = public
    return sandbox, api
