"""Local stand-ins for outside services, each a real server speaking the vendor's format.

`python -m sandbox` runs them all in one process; tests use `run_sandbox(...)` with port 0.
"""

from sandbox.app import create_app
from sandbox.runner import RunningSandbox, run_sandbox
from sandbox.state import ReceivedEmail, SandboxState, WebhookDelivery

__all__ = ["ReceivedEmail", "RunningSandbox", "SandboxState", "WebhookDelivery", "create_app", "run_sandbox"]
