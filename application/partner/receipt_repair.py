"""A lost receipt rebuilt from the record (issue 27, item 2).

An API answer's receipt and its Idempotency-Key's "done" are committed without waiting for
the disk (`storage.idempotency`): a crash of PostgreSQL can lose them while the workflow
keeps the answer. A retry under the same key would then find the key reserved but not done
(409 "still in progress", then taken over and sent again), free (sent again), or done with no
receipt (409 "no receipt"); a second sending is refused by the workflow as already answered.
None of these is the receipt the first request got.

The workflow's record says what was accepted: the task's `task_answered` milestone holds the
answer and its principal exactly as the update received them, and the principal's
`request_id` is derived from the Idempotency-Key and the body (`IdempotencyKey.request_id`),
so the milestone is recognised as this very request's, not another answer of the same
system. The moment the receipt names is the one the update returned: the task's
`answered_at` in the workflow (the milestone may be recorded later, after another answer of
the same round). The rebuilt receipt is kept and the key marked done, in one statement.
"""

from __future__ import annotations

from datetime import datetime

from application.conventions import ConventionNotFound, task_lookup
from application.partner.context import PartnerContext
from application.partner.tasks import asking, task_of_earlier_run
from schemas.actors import PrincipalKind
from storage import idempotency, receipts
from storage.idempotency import IdempotencyKey
from storage.receipts import Receipt


async def repaired_receipt(
    ctx: PartnerContext, once: IdempotencyKey, *, done: bool
) -> Receipt | None:
    """This key's receipt rebuilt from the task's `task_answered` milestone, kept, and the
    key marked done; None when the record holds no answer of this request (not recorded
    yet, another system's or another request's answer), and nothing is written.

    `done`: the key was marked done, so its request's answer was accepted and is the task's
    one answer (recorded before request ids were derived from the key, its principal's id
    is random: the party is checked then). Otherwise the milestone's principal must carry
    this request's id."""
    recorded = await receipts.recorded_answer(ctx.pool, once.convention_id, once.task_id)
    if recorded is None or recorded.principal is None:
        return None
    principal = recorded.principal
    if principal.kind is not PrincipalKind.API_KEY or principal.party != once.party:
        return None
    if not done and principal.request_id != once.request_id:
        return None
    receipt = Receipt(
        convention_id=once.convention_id,
        task_id=once.task_id,
        accepted_at=await _accepted_at(ctx, once) or recorded.occurred_at,
        principal=principal,
        answer=recorded.answer,
    )
    await idempotency.complete(ctx.pool, once, receipt, once.party)
    # The first receipt of a task stays: one kept meanwhile is the one to give.
    return await receipts.find_receipt(ctx.pool, once.convention_id, once.task_id) or receipt


async def _accepted_at(ctx: PartnerContext, once: IdempotencyKey) -> datetime | None:
    """When the workflow accepted the answer (what the update returned), from its task; None
    when neither the workflow's run nor the inbox's row says (the milestone's moment then)."""
    try:
        async with asking(once.convention_id):
            lookup = await task_lookup(ctx.client, once.convention_id, once.task_id)
    except ConventionNotFound:
        return None
    task = lookup.task or await task_of_earlier_run(ctx, once.convention_id, once.task_id)
    return None if task is None else task.answered_at
