"""Contacts: the e-mailed link opens the desk, a server-side session follows it; the contact
is the answer's principal."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from application.directory.authority import (
    Authority,
    authority_of,
    authorize_link,
    contact_authority,
    session_authority,
)
from application.errors import LinkUnusable, NotFound, Unauthenticated
from application.limits import (
    FAILURES_PER_ADDRESS,
    FAILURES_PER_SECRET,
    address_bucket,
    count_failure,
)
from application.partner.context import PartnerContext
from infra.portal_settings import derived_key, token_hash
from rendering.catalogues import N_
from schemas.actors import AuthMethod, Principal, PrincipalKind
from schemas.errors import DetailCode, coded_detail
from storage import contact_sessions
from storage.contact_sessions import ContactSession
from storage.partner_links import Link, find_link


def _withdrawn(reason: str) -> str:
    """Why a link was withdrawn: storage.notifications writes "reassigned to <contact>" when
    its task went to another contact (said per language); any other reason as written."""
    text = f"this link was withdrawn ({reason})"
    contact = reason.removeprefix("reassigned to ")
    if contact != reason:
        return coded_detail(DetailCode.LINK_REASSIGNED, text, contact=contact)
    return coded_detail(DetailCode.LINK_WITHDRAWN, text, reason=reason)


async def open_link(ctx: PartnerContext, token: str, client_address: str) -> Link:
    """The link behind a token, if it still opens the desk. The token is looked up first: a
    valid link opens whatever others failed from the same address; an unknown token counts
    against the address and the token (TooManyAttempts once either is full)."""
    digest = token_hash(token)
    buckets = {
        address_bucket("address", client_address): FAILURES_PER_ADDRESS,
        f"link:{digest.hex()[:32]}": FAILURES_PER_SECRET,
    }
    link = await find_link(ctx.pool, digest)
    if link is None:
        await count_failure(ctx.pool, buckets)
        raise NotFound(N_("this link is not known"))
    if link.revoked_at is not None:
        raise LinkUnusable(_withdrawn(str(link.revoked_reason)))
    if link.expires_at <= datetime.now(UTC):
        raise LinkUnusable(
            coded_detail(
                DetailCode.LINK_EXPIRED,
                f"this link expired on {link.expires_at:%Y-%m-%d}",
                day=f"{link.expires_at:%Y-%m-%d}",
            )
        )
    # The directory, not the file that minted the link, says who acts for the party.
    await authorize_link(ctx.pool, link.party, name=link.contact_name, email=link.contact_email)
    return link


async def start_session(ctx: PartnerContext, link: Link) -> tuple[str, ContactSession]:
    """A new session for the link's contact; returns the cookie value (shown once)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session = ContactSession(
        id_hash=token_hash(token),
        contact_name=link.contact_name,
        contact_email=link.contact_email,
        party=link.party,
        language=link.language,
        link_hash=link.token_hash,
    )
    expires_at = now + timedelta(hours=ctx.settings.session_max_hours)
    language = await contact_sessions.insert_session(ctx.pool, session, now, expires_at)
    # The language the contact chose in an earlier session holds over the link's.
    return token, replace(session, language=language)


async def session(ctx: PartnerContext, token: str | None) -> ContactSession:
    """The live session of this cookie; idle or past its lifetime, it is over."""
    found, _authority = await session_and_authority(ctx, token)
    return found


async def session_and_authority(
    ctx: PartnerContext, token: str | None
) -> tuple[ContactSession, Authority]:
    """`session`, with the directory's word on its person that it read to keep it alive (a
    page that needs that word too reads it once)."""
    if not token:
        raise Unauthenticated(N_("no session: open the link you received by e-mail"))
    now = datetime.now(UTC)
    idle_since = now - timedelta(minutes=ctx.settings.session_idle_minutes)
    # The session and the directory's word on its person: one statement.
    touched = await contact_sessions.touch_session_with_standing(
        ctx.pool, token_hash(token), now, idle_since
    )
    if touched is None:
        raise Unauthenticated(N_("your session has ended: open the link you received again"))
    found, standing = touched
    try:  # a person the directory removed (or no longer names) is signed out at once
        authority = session_authority(
            contact_authority(found.party, standing, name=found.contact_name)
        )
    except Unauthenticated:
        await end_session(ctx, found)
        raise
    return found, authority


async def set_language(ctx: PartnerContext, session: ContactSession, language: str) -> None:
    """The contact reads the desk in another language (fr, ar, en)."""
    await contact_sessions.set_language(ctx.pool, session.id_hash, language)


async def end_session(ctx: PartnerContext, session: ContactSession) -> None:
    """Sign out."""
    await contact_sessions.end_session(ctx.pool, session.id_hash)


def csrf_key(ctx: PartnerContext) -> bytes:
    """The key the web layer signs its CSRF tokens with."""
    return derived_key(ctx.secret, "csrf")


def contact_principal(session: ContactSession, method: AuthMethod) -> Principal:
    """The contact, as the answer's principal."""
    return Principal(
        kind=PrincipalKind.CONTACT,
        id=session.contact_name,
        name=session.contact_name,
        party=session.party,
        method=method,
        request_id=uuid.uuid4().hex,
    )


async def checked_contact(
    ctx: PartnerContext, session: ContactSession, method: AuthMethod, task_kind: str
) -> Principal:
    """The contact's principal, once the directory says they hold the task's capacity now
    (Refused with the reason otherwise), carrying the directory ids and version read."""
    authority = await authority_of(
        ctx.pool, session.party, name=session.contact_name, email=session.contact_email
    )
    check = authority.check(task_kind)
    return contact_principal(session, method).model_copy(update={"directory": check})
