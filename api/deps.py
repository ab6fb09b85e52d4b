"""The dependencies routes declare: the services the API runs on, and the acting person by role.

A route says what it needs in its signature (`svc: ServicesDep, actor: Intake`), so who may call it reads
where it is declared. Each role alias is one `require(...)` check (api/auth.py), made once here: the token
or console session is checked before the request's body is read, and the refusal names the roles below.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from api.auth import require
from api.services import Services
from domain import Actor, Role


def get_services(request: Request) -> Services:
    """What the app was built with (tests) or its lifespan set up (production)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

# Who may act on a running order (support's actions) and who may read one.
ACTORS = (Role.SUPPORT, Role.MERCHANT, Role.ADMIN)
READERS = (Role.SUPPORT, Role.MERCHANT, Role.ENGINEER, Role.ADMIN)
ENGINEERS = (Role.ENGINEER, Role.SUPPORT)

# The store's facts about its orders (intake, shipments, a review written, a reorder): its merchant.
Intake = Annotated[Actor, Depends(require(Role.MERCHANT, Role.ADMIN))]
# Reading orders: every staff role.
Staff = Annotated[Actor, Depends(require(*READERS))]
# Acting on an order (support's actions): people who may change it.
Acting = Annotated[Actor, Depends(require(*ACTORS))]
# The raw histories and the engineer's timeline.
Engineers = Annotated[Actor, Depends(require(*ENGINEERS))]
# Operating the API: metrics.
Operators = Annotated[Actor, Depends(require(Role.ENGINEER, Role.ADMIN))]
# Reading the policies loaded (worded "an admin or engineer token").
PolicyReaders = Annotated[Actor, Depends(require(Role.ADMIN, Role.ENGINEER))]
# Changing what the whole API runs on: reloading policies.
Admin = Annotated[Actor, Depends(require(Role.ADMIN))]

MerchantQuery = Annotated[str | None, Query(description="needed only when several merchants share the order id")]
KeyHeader = Annotated[str | None, Header(alias="Idempotency-Key")]
