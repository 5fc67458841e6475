"""The portal's FastAPI dependencies for the partner desk: the desk, the contact's session
(its cookie) and the API principal (its bearer key). Routes declare them with `Annotated`, so
the OpenAPI document says which security each route needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from application.directory.authority import Authority
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


async def partner_desk(request: Request) -> PartnerDesk:
    """The desk the app was built over. A coroutine although it awaits nothing: FastAPI runs
    a plain function dependency in its thread pool, a hand-off to a thread and back on every
    request of the desk's pages and API (more than the attribute read itself)."""
    desk: PartnerDesk = request.app.state.desk
    return desk


Desk = Annotated[PartnerDesk, Depends(partner_desk)]


@dataclass(frozen=True)
class SessionStanding:
    """The contact's live session and the directory's word on its person, as the session's
    check read it: read once per request (FastAPI caches a dependency for the request), so
    a page that needs the person's kinds or party does not read the directory again."""

    session: ContactSession
    authority: Authority


async def session_standing(request: Request, desk: Desk) -> SessionStanding:
    """The contact's live session (its cookie) and its person's standing; Unauthenticated
    otherwise. The zone the contact reads dates in, which the same read of the directory
    holds, is kept for the page's rendering (web.rendering.render)."""
    session, authority = await desk.session_and_authority(request.cookies.get(SESSION_COOKIE))
    request.state.reader_zone = authority.reading_zone()
    return SessionStanding(session, authority)


Standing = Annotated[SessionStanding, Depends(session_standing)]


async def contact_session(standing: Standing) -> ContactSession:
    """The contact's live session (its cookie); Unauthenticated otherwise."""
    return standing.session


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
