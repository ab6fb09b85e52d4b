"""The base of every policy section."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a policy must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
