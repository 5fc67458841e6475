"""One-time codes: a contact's commitment (a signature, a funding decision) waits for the
six digits mailed to them; five tries, ten minutes, five codes per link and task in any
sliding 15 minutes (not per session: a new session from the same link gets no fresh supply)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from application.errors import (
    CodeUnavailable,
    InvalidInput,
    LinkUnusable,
    NotFound,
    Refused,
    TooManyAttempts,
)
from application.limits import FAILURES_PER_ADDRESS, address_bucket, count_failure, reserve
from application.partner.code_mail import send_code_mail, unavailable_reason
from application.partner.context import PartnerContext
from application.partner.links import checked_contact
from infra.portal_settings import derived_key, token_hash
from rendering.catalogues import N_
from rendering.record import task_title
from schemas.actors import AuthMethod
from schemas.errors import WRONG_CODE, FieldError, Reason
from schemas.tasks import AnswerTask, Task
from storage import codes
from storage.contact_sessions import ContactSession

CODES_PER_TASK = 5
"""Each code allows five tries: the codes are bounded too, per link and task, or asking again
and again for fresh codes (from fresh sessions) would walk the million."""


@dataclass(frozen=True)
class PendingCode:
    """An answer waiting for the one-time code mailed to the contact."""

    id: str
    expires_at: datetime


def code_hash(ctx: PartnerContext, code_id: str, code: str) -> bytes:
    """Keyed: six digits are a million guesses, so a bare hash would be read back offline."""
    return hmac.new(
        derived_key(ctx.secret, "code"), f"{code_id}\0{code}".encode(), hashlib.sha256
    ).digest()


async def send_code(
    ctx: PartnerContext, session: ContactSession, task: Task, request: AnswerTask
) -> PendingCode:
    """Keep the answer waiting and mail its code to the contact."""
    reason = unavailable_reason(ctx.delivery, session.contact_email)
    if reason is not None:
        raise CodeUnavailable(
            f"this answer needs a code sent by e-mail, and no mail can be sent {reason}"
        )
    assert session.contact_email is not None
    # Reserved atomically before the code exists: a burst of requests gets at most the budget.
    task_key = token_hash(f"{session.link_hash.hex()}\0{task.convention_id}\0{task.id}")
    await reserve(ctx.pool, {f"codes-sent:{task_key.hex()[:32]}": CODES_PER_TASK})
    code = f"{secrets.randbelow(1_000_000):06d}"
    code_id = secrets.token_urlsafe(16)
    expires_at = datetime.now(UTC) + timedelta(minutes=ctx.settings.code_minutes)
    await codes.insert_code(
        ctx.pool,
        code_id=code_id,
        session_hash=session.id_hash,
        convention_id=task.convention_id,
        task_id=task.id,
        code_hash=code_hash(ctx, code_id, code),
        answer=request.model_dump(mode="json", exclude={"principal"}),
        expires_at=expires_at,
    )
    # The task as the contact reads it: its title in their language, not the stored English.
    mail = ctx.code_mail(session.language, code, task_title(task, session.language).text)
    await send_code_mail(ctx.delivery, session.contact_email, session.language, mail)
    return PendingCode(code_id, expires_at)


async def confirm_code(
    ctx: PartnerContext, session: ContactSession, code_id: str, code: str, client_address: str
) -> tuple[str, AnswerTask]:
    """The waiting answer (its convention, and the request with the contact's principal)
    once its code is right; a wrong code is counted, against the code and the address.

    Credential-first: the code's own tries (counted under its row lock, so parallel guesses
    are decided one after the other) bound the guesses; the address only counts wrong codes,
    so a right code is never refused because others failed from the same address."""
    buckets = {address_bucket("address", client_address): FAILURES_PER_ADDRESS}
    async with codes.locked_code(ctx.pool, code_id, session.id_hash) as locked:
        stored = locked.code
        if stored is None:
            raise NotFound(N_("no code was sent for this answer"))
        if stored.used_at is not None:
            raise Refused("this code was already used")
        if stored.tries >= ctx.settings.code_tries:
            raise TooManyAttempts(
                "too many wrong codes: send the answer again for a new code",
                retry_after=int((stored.expires_at - datetime.now(UTC)).total_seconds()) + 1,
            )
        if stored.expires_at <= datetime.now(UTC):
            raise LinkUnusable("this code has expired: send the answer again for a new one")
        right = hmac.compare_digest(stored.code_hash, code_hash(ctx, code_id, code.strip()))
        if right:
            await locked.mark_used()
        else:
            await locked.count_wrong_try()
            left = ctx.settings.code_tries - stored.tries - 1
    if not right:
        await count_failure(ctx.pool, buckets)
        reason = Reason(f"wrong code ({left} tries left)", WRONG_CODE, {"left": left}, "code")
        raise InvalidInput("wrong code", [FieldError("code", reason)])
    principal = await checked_contact(
        ctx, session, AuthMethod.LINK_AND_CODE, str(stored.answer["answer"]["kind"])
    )
    request = AnswerTask.model_validate(
        {**stored.answer, "principal": principal.model_dump(mode="json")}
    )
    return stored.convention_id, request
