"""Answers: built and validated as the CLI validates them, sent as the workflow's update with
the server's principal, their receipt kept; a contact's, an API system's (once per
Idempotency-Key) and, with `events`, a signed CloudEvent's (once per source and id)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from application import documents
from application.conventions import (
    ConventionNotFound,
    ConventionUnreadable,
    answer_task,
    task_lookup,
)
from application.directory.authority import system_authority, system_authority_read
from application.errors import Conflict, ConventionNotAnswering, InvalidInput, NotFound, Refused
from application.partner import codes, keys, receipt_repair, tasks
from application.partner.codes import PendingCode
from application.partner.context import PartnerContext
from application.partner.links import checked_contact
from infra.portal_settings import token_hash
from schemas.actors import AuthMethod, Principal
from schemas.convention_file import parse_model
from schemas.errors import DetailCode, FieldError, InputError, Refusal, RefusalCode, coded_detail
from schemas.tasks import AnswerReceipt, AnswerTask, Task, TaskKind, TaskStatus
from storage import idempotency, receipts
from storage.api_answer import PreparedAnswer, prepare_answer
from storage.contact_sessions import ContactSession
from storage.idempotency import IdempotencyKey, Once, OnceKey, OnceState
from storage.receipts import Receipt

API_BODY_FIELDS = frozenset({"actor", "answer"})
"""The body fields an API caller sends: the answer and, optionally, who answers."""
_ECHOED_FIELDS = frozenset({"task_id", "acting_party"})
"""Fields the server fills (from the URL and the key), taken when they say the same."""


def _unknown(convention_id: str) -> str:
    return coded_detail(
        DetailCode.CONVENTION_UNKNOWN,
        f"convention {convention_id!r} is not known",
        convention=convention_id,
    )


def build(task: Task, principal: Principal, body: dict[str, Any], *, source: str) -> AnswerTask:
    """The AnswerTask with its principal, validated as the CLI validates (field errors).

    `body` is the answer as `starter.py schema --answer` describes it: `answer` and
    optionally `actor`, `task_id` and `acting_party` (which must then be this task's and
    the principal's party); the principal is the server's, never the caller's.
    """
    errors = [
        FieldError(
            name,
            "not a field of an answer"
            if name != "principal"
            else "set by the desk from your credentials, not by the request",
        )
        for name in body
        if name not in API_BODY_FIELDS | _ECHOED_FIELDS
    ]
    if body.get("task_id", task.id) != task.id:
        errors.append(FieldError("task_id", f"must be {task.id!r}, the task of this URL"))
    if body.get("acting_party", principal.party) != principal.party:
        errors.append(FieldError("acting_party", f"must be {principal.party!r}, whose key this is"))
    answer = body.get("answer")
    if not isinstance(answer, dict):
        errors.append(FieldError("answer", "required: an object of the answer's fields"))
    if errors:
        raise InvalidInput(f"invalid answer to {task.id}", errors)
    assert isinstance(answer, dict)
    try:
        return parse_model(
            AnswerTask,
            {
                "task_id": task.id,
                "acting_party": principal.party,
                "actor": body.get("actor") or principal.name,
                "principal": principal.model_dump(mode="json"),
                "answer": {"kind": task.kind.value, **answer},
            },
            source,
        )
    except InputError as error:
        raise InvalidInput(str(error), error.errors) from None


async def send(
    ctx: PartnerContext,
    convention_id: str,
    request: AnswerTask,
    *,
    once: OnceKey | None = None,
    wait: timedelta | None = None,
) -> Receipt:
    """Send the answer as the workflow's update; keep its receipt for the link, and mark the
    once-only key (if any) done in the same statement. With `wait`, a workflow that does not
    take the update in that time (no worker runs it) is ConventionNotAnswering."""
    request = await documents.checked_answer(ctx, convention_id, request)
    assert request.principal is not None
    try:
        # A few at a time per convention (`update_gate`); a turn that does not come within
        # `wait` sent nothing: a 503 to send the same answer again.
        async with ctx.update_gates.turn(convention_id, _seconds(wait)):
            accepted: AnswerReceipt = await answer_task(
                ctx.client, convention_id, request, rpc_timeout=wait
            )
    except TimeoutError:
        raise ConventionNotAnswering(
            f"convention {convention_id}: too many answers waiting for its workflow",
            retry_after=5,
        ) from None
    except Refused as error:
        # The validator names who answered a task of its run; a convention closed since
        # (the winner's answer ended it) says only that: then its query says who.
        if _ANSWERED_BY in error.detail:
            raise
        who = await who_answered(ctx, convention_id, request.task_id)
        raise Refused(who or error.detail) from None
    except ConventionNotFound:
        raise NotFound(_unknown(convention_id)) from None
    except ConventionUnreadable as error:
        # Its workflow task failing or late (a worker overloaded, or none): a 503 to send the
        # same answer again, not a 500. An update taken meanwhile is refused the second time,
        # naming who answered: never recorded twice.
        raise ConventionNotAnswering(str(error), retry_after=5) from None
    receipt = Receipt(
        convention_id=convention_id,
        task_id=request.task_id,
        accepted_at=accepted.accepted_at,
        principal=request.principal,
        answer=request.answer.model_dump(mode="json"),
    )
    if once is None:
        await receipts.keep_receipt(ctx.pool, receipt, request.acting_party)
    else:
        await idempotency.complete(ctx.pool, once, receipt, request.acting_party)
    return receipt


async def who_answered(ctx: PartnerContext, convention_id: str, task_id: str) -> str | None:
    """'task_id: … already answered (by …)' when a colleague's answer won the race, even if
    the convention has closed since (a closed workflow still answers the query)."""
    try:
        lookup = await task_lookup(ctx.client, convention_id, task_id)
    except (ConventionNotFound, ConventionUnreadable):
        return None
    task = lookup.task
    if task is None or task.status is not TaskStatus.DONE or not task.answered_by:
        return None
    text = f"task_id: task {task_id!r} is already answered (by {task.answered_by})"
    refusal = Refusal(
        code=RefusalCode.TASK_DONE,
        field="task_id",
        params={"task": task_id, "answered_by": task.answered_by},
    )
    return refusal.reason(text)


def needs_code(request: AnswerTask) -> bool:
    """A commitment of the party: a signature given, or a funding decision."""
    answer = request.answer
    if answer.kind == TaskKind.SIGN.value:
        return getattr(answer, "decision", None) == "sign"
    return answer.kind == TaskKind.DECIDE_FUNDING.value


async def answer_as_contact(
    ctx: PartnerContext,
    session: ContactSession,
    convention_id: str,
    task_id: str,
    body: dict[str, Any],
) -> Receipt | PendingCode:
    """The contact's answer: sent now, or (a commitment) once the mailed code confirms it."""
    task, still_open = await tasks.contact_answerable_task(
        ctx, session.party, convention_id, task_id, session.contact_name, session.contact_email
    )
    principal = await checked_contact(ctx, session, AuthMethod.LINK, task.kind.value)
    request = build(task, principal, body, source=f"answer to {task_id}")
    if not still_open or not needs_code(request):
        # A task closed meanwhile goes to the workflow too, whose refusal names who
        # answered (the read models may not say so yet); no code is sent for it.
        return await send(ctx, convention_id, request, wait=_contact_wait(ctx))
    return await codes.send_code(ctx, session, task, request)


def _seconds(wait: timedelta | None) -> float | None:
    return None if wait is None else wait.total_seconds()


def _contact_wait(ctx: PartnerContext) -> timedelta:
    """How long a contact's answer waits for its workflow (the portal's setting): the page
    asked the workflow nothing before, so this deadline is what tells a workflow no worker
    runs (a 503, come back later) from one that takes the answer."""
    return timedelta(seconds=ctx.settings.answer_wait_seconds)


async def answer_with_code(
    ctx: PartnerContext, session: ContactSession, code_id: str, code: str, client_address: str
) -> Receipt:
    """Send the waiting answer once its code is right; five tries, ten minutes."""
    convention_id, request = await codes.confirm_code(ctx, session, code_id, code, client_address)
    return await send(ctx, convention_id, request, wait=_contact_wait(ctx))


async def answer_for_party(
    ctx: PartnerContext,
    principal: Principal,
    convention_id: str,
    task_id: str,
    body: dict[str, Any],
    *,
    once: OnceKey | None = None,
) -> Receipt:
    """A system's answer (API key or signed event)."""
    # A system's answer needs the task's kind and party only: the inbox's row (one indexed
    # read) says both, and the workflow's validator still decides (a task closed meanwhile
    # is refused there, naming who answered). Its query is asked only when the row is not
    # open (not yet written, or the task closed): the same rules as a page's.
    task = await tasks.owed_in_inbox(ctx, principal.party, convention_id, task_id)
    if task is None:
        task, _still_open = await tasks.answerable_task(
            ctx, principal.party, convention_id, task_id
        )
    # The party's system acts for it while the directory keeps the organisation active.
    check = (await system_authority(ctx.pool, principal.party)).check(task.kind.value)
    principal = principal.model_copy(update={"directory": check})
    request = build(task, principal, body, source=f"answer to {task_id}")
    return await send(ctx, convention_id, request, once=once)


async def answer_once(
    ctx: PartnerContext,
    principal: Principal,
    convention_id: str,
    task_id: str,
    body: dict[str, Any],
    once: OnceKey,
    *,
    other_request: str,
    in_flight: str,
    no_receipt: str,
) -> Receipt:
    """The answer, once per key: a repeat of an accepted request gets the same receipt, a
    request still in flight or another one under the same key is a Conflict."""
    found = await _with_lost_receipt(ctx, await idempotency.reserve_once(ctx.pool, once), once)
    if found.state is OnceState.IN_FLIGHT and await idempotency.take_over_abandoned(ctx.pool, once):
        found = Once(OnceState.RESERVED)  # its first request was cut: this retry answers
    earlier = _earlier_outcome(
        found, other_request=other_request, in_flight=in_flight, no_receipt=no_receipt
    )
    if earlier is not None:
        return earlier
    try:
        return await answer_for_party(ctx, principal, convention_id, task_id, body, once=once)
    except Refused as refusal:
        return await _refused(ctx, once, refusal)
    except BaseException:
        # Not answered: the key is free again for a corrected request.
        await idempotency.release(ctx.pool, once)
        raise


async def _with_lost_receipt(ctx: PartnerContext, found: Once, once: OnceKey) -> Once:
    """`found`, or DONE with this request's receipt rebuilt from the record when PostgreSQL
    lost it after the workflow accepted the answer (its key reserved and never marked done,
    or done with no receipt: `receipt_repair`)."""
    lost = found.state is OnceState.IN_FLIGHT or (
        found.state is OnceState.DONE and found.receipt is None
    )
    if not lost or not isinstance(once, IdempotencyKey):
        return found
    done = found.state is OnceState.DONE
    receipt = await receipt_repair.repaired_receipt(ctx, once, done=done)
    return found if receipt is None else Once(OnceState.DONE, receipt)


async def _refused(ctx: PartnerContext, once: OnceKey | None, refusal: Refused) -> Receipt:
    """The workflow refused an answer sent under a key: when the refusal is of this very
    request, accepted before and its receipt lost with its reservation, the receipt the
    record rebuilds; otherwise the key is freed (for a corrected request) and the refusal
    stands."""
    try:
        if isinstance(once, IdempotencyKey):
            receipt = await receipt_repair.repaired_receipt(ctx, once, done=False)
            if receipt is not None:
                return receipt
    except BaseException:
        if once is not None:
            await idempotency.release(ctx.pool, once)
        raise
    if once is not None:
        await idempotency.release(ctx.pool, once)
    raise refusal


def _earlier_outcome(
    found: Once, *, other_request: str, in_flight: str, no_receipt: str
) -> Receipt | None:
    """None when the key is this request's now; the earlier request's receipt when it is
    this same request, done; Conflict otherwise."""
    if found.state is OnceState.OTHER_REQUEST:
        raise Conflict(other_request)
    if found.state is OnceState.IN_FLIGHT:
        raise Conflict(in_flight)
    if found.state is OnceState.DONE:
        if found.receipt is None:
            raise Conflict(no_receipt)
        return found.receipt
    return None


async def answer_with_key(
    ctx: PartnerContext,
    principal: Principal,
    convention_id: str,
    task_id: str,
    body: dict[str, Any],
    idempotency_key: str | None,
) -> Receipt:
    """The API's answer; with an Idempotency-Key, a retry of the same body gets the same
    receipt and another body under the same key is a conflict."""
    if idempotency_key is None:
        return await answer_for_party(ctx, principal, convention_id, task_id, body)
    if not 1 <= len(idempotency_key) <= 200:
        raise InvalidInput(
            "bad Idempotency-Key", [FieldError("Idempotency-Key", "1 to 200 characters")]
        )
    body_hash = _body_hash(convention_id, task_id, body)
    once = IdempotencyKey(principal.party, idempotency_key, body_hash, convention_id, task_id)
    # Every retry of this request carries the same id: the record then recognises it.
    principal = principal.model_copy(update={"request_id": once.request_id})
    return await answer_once(ctx, principal, convention_id, task_id, body, once, **_KEY_CONFLICTS)


_KEY_CONFLICTS = {
    "other_request": "this Idempotency-Key was used with another request",
    "in_flight": "a request with this Idempotency-Key is still in progress",
    "no_receipt": "this Idempotency-Key's answer has no receipt",
}
_ANSWERED_BY = "(answered by "
"""How the workflow's refusal of a task already answered names who answered it."""


def _valid_idempotency_key(idempotency_key: str | None) -> bool:
    return idempotency_key is None or 1 <= len(idempotency_key) <= 200


def _body_hash(convention_id: str, task_id: str, body: dict[str, Any]) -> bytes:
    return hashlib.sha256(f"{convention_id}\0{task_id}\0".encode() + _canonical(body)).digest()


async def answer_with_bearer(
    ctx: PartnerContext,
    authorization: str | None,
    client_address: str,
    convention_id: str,
    task_id: str,
    body: dict[str, Any],
    idempotency_key: str | None,
) -> Receipt:
    """The API's answer with its bearer key: what `authenticate_key` then `answer_with_key`
    do, with one PostgreSQL round trip before the update (the key, its organisation's
    directory row, the Idempotency-Key's reservation and the task's inbox row, in one
    statement) and one after (the receipt, the key marked done); no query to Temporal
    before the update when the inbox has the task's row: the update's validator decides
    whether the task is still open, and its refusal names who answered."""
    secret = keys.presented_secret(authorization)
    if secret is None or not _valid_idempotency_key(idempotency_key):
        # A malformed header, or a bad Idempotency-Key: refused as the two steps refuse them
        # (the credential first).
        principal = await keys.authenticate_key(ctx, authorization, client_address)
        return await answer_with_key(ctx, principal, convention_id, task_id, body, idempotency_key)
    body_hash = _body_hash(convention_id, task_id, body) if idempotency_key else None
    prepared = await prepare_answer(
        ctx.pool, token_hash(secret), idempotency_key, body_hash, convention_id, task_id
    )
    if prepared is None or prepared.archived:
        await keys.refuse_key(ctx, client_address, archived=prepared is not None)
    assert prepared is not None
    principal = keys.key_principal(prepared.key_id, prepared.name, prepared.party)
    once: IdempotencyKey | None = None
    if idempotency_key is not None:
        assert body_hash is not None
        once = IdempotencyKey(prepared.party, idempotency_key, body_hash, convention_id, task_id)
        # Every retry of this request carries the same id: the record then recognises it.
        principal = principal.model_copy(update={"request_id": once.request_id})
        if not prepared.reserved:
            receipt = await _earlier_request(ctx, prepared, once)
            if receipt is not None:
                return receipt
    try:
        task = prepared.task
        if task is None:  # no row yet: the workflow's query says what the task is
            task, _still_open = await tasks.answerable_task(
                ctx, principal.party, convention_id, task_id
            )
        elif task.assignee != principal.party:
            raise NotFound(
                coded_detail(
                    DetailCode.NO_TASK_FOR_YOU,
                    f"no task {task_id!r} of convention {convention_id!r} for you",
                    task=task_id,
                    convention=convention_id,
                )
            )
        authority = system_authority_read(
            principal.party, prepared.directory_version, prepared.organisation
        )
        principal = principal.model_copy(update={"directory": authority.check(task.kind.value)})
        request = build(task, principal, body, source=f"answer to {task_id}")
        return await send(ctx, convention_id, request, once=once)
    except Refused as refusal:
        return await _refused(ctx, once, refusal)
    except BaseException:
        if once is not None:  # not answered: the key is free again for a corrected request
            await idempotency.release(ctx.pool, once)
        raise


async def _earlier_request(
    ctx: PartnerContext, prepared: PreparedAnswer, once: IdempotencyKey
) -> Receipt | None:
    """The key was taken before: the earlier request's receipt, or Conflict. None when it
    turns out free after all (taken by a request that has since been released), or its
    reservation is the same request's, abandoned (older than the lease): this one answers."""
    earlier = prepared.earlier
    if earlier is None:
        # Reserved by a request not committed when the statement began: ask again.
        found = await idempotency.reserve_once(ctx.pool, once)
    elif earlier.body_hash != once.body_hash:
        found = Once(OnceState.OTHER_REQUEST)
    elif not earlier.done:
        found = Once(OnceState.IN_FLIGHT)
    else:
        stored = await receipts.find_receipt(ctx.pool, earlier.convention_id, earlier.task_id)
        found = Once(OnceState.DONE, stored)
    found = await _with_lost_receipt(ctx, found, once)
    if found.state is OnceState.IN_FLIGHT and await idempotency.take_over_abandoned(ctx.pool, once):
        return None  # its first request was cut (a replica killed): this retry answers
    return _earlier_outcome(found, **_KEY_CONFLICTS)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
