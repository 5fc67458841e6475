"""The portal's FastAPI dependencies for the partner desk: the desk, the contact's session
(its cookie) and the API principal (its bearer key). Routes declare them with `Annotated`, so
the OpenAPI document says which security each route needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from application.partner import ContactSession, PartnerDesk
from schemas.actors import Principal
from web.security import client_address

SESSION_COOKIE = "pacte_session"

# Documents the bearer key on the routes that depend on it; the desk itself reads the header
# (a missing or malformed one is counted as a failure, and refused as 401, not 403).
partner_key = HTTPBearer(
    auto_error=False,
    scheme_name="partnerKey",
    description="The party's API key: `Authorization: Bearer pk_…`",
)

PartnerKey = Annotated[HTTPAuthorizationCredentials | None, Depends(partner_key)]
"""The bearer key, for the OpenAPI document only: a route that checks the key itself (the
API answer, with its Idempotency-Key in one statement) declares it so."""


def partner_desk(request: Request) -> PartnerDesk:
    """The desk the app was built over."""
    desk: PartnerDesk = request.app.state.desk
    return desk


Desk = Annotated[PartnerDesk, Depends(partner_desk)]


async def contact_session(request: Request, desk: Desk) -> ContactSession:
    """The contact's live session (its cookie); Unauthenticated otherwise. The zone the
    contact reads dates in is kept for the page's rendering (web.rendering.render)."""
    session = await desk.session(request.cookies.get(SESSION_COOKIE))
    request.state.reader_zone = await desk.reading_zone(session)
    return session


Session = Annotated[ContactSession, Depends(contact_session)]


async def api_principal(
    request: Request,
    desk: Desk,
    _key: PartnerKey,
) -> Principal:
    """The party's system behind the bearer key; Unauthenticated (or TooManyAttempts)."""
    return await desk.authenticate_key(
        request.headers.get("authorization"), client_address(request)
    )


ApiPrincipal = Annotated[Principal, Depends(api_principal)]
