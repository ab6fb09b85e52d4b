"""Merchant policies in the running API: what is loaded, and `POST /v1/policies/reload` to re-read the directory.

A new or edited policy file used to need a restart. A reload reads and validates every file of the policy
directory first and swaps the new set in only if all of them are valid (one broken file, or two files
for one merchant, and the answer is 422 with every problem at file:line:col while the set in use stays).
Journeys already running keep the policy snapshot they started with (their input carries it and its
hash); orders taken after the reload get the new policy. Each API process holds its own set: reload
each one (the embedded stack runs one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import Admin, PolicyReaders, ServicesDep
from api.errors import ApiError
from api.services import Services
from policies.loader import LoadedPolicy, PolicyError, load_policy_dir

Change = Literal["added", "changed", "unchanged", "removed"]


class PolicyLoaded(BaseModel):
    merchant_id: str
    hash: str = Field(description="the hash new journeys record; empty for a removed merchant")
    path: str
    variants: int
    change: Change = "unchanged"


class PoliciesLoaded(BaseModel):
    directory: str
    policies: list[PolicyLoaded]


def record_merchants(services: Services, policies: Mapping[str, LoadedPolicy]) -> None:
    """The merchants table says which policy hash each merchant runs now (at start-up and after a reload)."""
    for merchant_id, loaded in policies.items():
        services.store.upsert_merchant(merchant_id, loaded.policy.merchant.name, loaded.hash)


def _row(loaded: LoadedPolicy, change: Change) -> PolicyLoaded:
    return PolicyLoaded(
        merchant_id=loaded.merchant_id,
        hash=loaded.hash,
        path=loaded.path,
        variants=len(loaded.policy.variants),
        change=change,
    )


def describe(old: Mapping[str, LoadedPolicy], new: Mapping[str, LoadedPolicy]) -> list[PolicyLoaded]:
    """Every merchant of the new set, and those the new set drops, with what changed for each."""
    rows = []
    for merchant_id in sorted(set(old) | set(new)):
        before, after = old.get(merchant_id), new.get(merchant_id)
        if after is None:
            assert before is not None
            rows.append(_row(before, "removed").model_copy(update={"hash": ""}))
        elif before is None:
            rows.append(_row(after, "added"))
        else:
            rows.append(_row(after, "unchanged" if before.hash == after.hash else "changed"))
    return rows


def reload_policies(services: Services) -> list[PolicyLoaded]:
    """Read and validate the whole directory; swap it in only if every file is valid (else PolicyError)."""
    if services.policy_dir is None:
        raise ApiError(409, "no_policy_directory", "this API was started with fixed policies; restart it instead")
    fresh = load_policy_dir(services.policy_dir)
    old = services.policies
    record_merchants(services, fresh)
    services.policies = fresh  # one assignment: a request sees the old set or the new one, never a mix
    return describe(old, fresh)


router = APIRouter(prefix="/v1/policies", tags=["policies"])


@router.get("", response_model=PoliciesLoaded)
async def loaded(svc: ServicesDep, _: PolicyReaders) -> PoliciesLoaded:
    """The policies new orders get: merchant, hash and file."""
    rows = [_row(p, "unchanged") for _, p in sorted(svc.policies.items())]
    return PoliciesLoaded(directory=str(svc.policy_dir or ""), policies=rows)


@router.post("/reload", response_model=PoliciesLoaded)
async def reload(svc: ServicesDep, _: Admin) -> PoliciesLoaded:
    """Re-read the policy directory. All files valid: they replace the set in use (running journeys keep
    their snapshot; new orders get the new policy). Any problem: 422 listing each at file:line:col, and
    the set in use stays."""
    try:
        rows = await run_in_threadpool(reload_policies, svc)
    except PolicyError as err:
        problems = [str(p) for p in err.problems]
        raise ApiError(
            422,
            "invalid_policies",
            f"{len(problems)} problem(s) in {svc.policy_dir}; the policies in use are unchanged:\n"
            + "\n".join(problems),
            problems=problems,
        ) from err
    return PoliciesLoaded(directory=str(svc.policy_dir), policies=rows)
