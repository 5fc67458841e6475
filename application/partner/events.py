"""Partners' systems: a `pacte.task.answer` CloudEvent signed per Standard Webhooks with one of
the party's secrets, answered once per party, source and id.

Party ids are compared exactly, in the one spelling the directory holds: the environment's
override `PACTE_WEBHOOK_SECRET_<PARTY>` stands for every id that differs only by case or
punctuation (`bid`, `BID`, `b-id`…), so a path naming another spelling of a directory's
organisation than its own is refused before any secret is tried, and a verified event acts
for the party its path names, spelled as the directory spells it."""

from __future__ import annotations

import uuid
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from application.directory.channels import channel_key, signing_secrets
from application.errors import InvalidInput, Unauthenticated
from application.limits import FAILURES_PER_ADDRESS, address_bucket, count_failure
from application.partner.answers import answer_once
from application.partner.context import PartnerContext
from infra.secrets import SecretError, webhook_secrets
from schemas.actors import AuthMethod, Principal, PrincipalKind
from schemas.errors import FieldError
from storage import directory as directory_store
from storage.idempotency import EventKey
from storage.receipts import Receipt


async def verify_event(
    ctx: PartnerContext, party: str, body: bytes, headers: dict[str, str], client_address: str
) -> Principal:
    """The party's system, proven by a Standard Webhooks signature with one of its secrets
    (several during a rotation); a timestamp beyond five minutes is refused. The signature is
    checked first: a valid one passes whatever others failed from the same address; a wrong
    one counts against the address (TooManyAttempts once it is full)."""
    buckets = {address_bucket("address", client_address): FAILURES_PER_ADDRESS}
    spellings = await directory_store.organisation_spellings(ctx.pool, party)
    if spellings and party not in spellings:
        # `/events/BID` while the directory holds `bid`: bid's secret must not make "BID" act.
        await count_failure(ctx.pool, buckets)
        raise Unauthenticated("the event's Standard Webhooks signature does not verify")
    try:
        candidates = webhook_secrets(party, ctx.delivery.secrets_file)
    except SecretError:
        # No secret for that party: nothing can be verified (and no party is revealed).
        candidates = []
    # The directory's channel secrets (during a rotation, old and new) after the override.
    candidates += await signing_secrets(ctx.pool, channel_key(ctx.secret), party)
    for candidate in candidates:
        try:
            # The signature only: the body is parsed (and refused if not JSON) by the route.
            Webhook(candidate).verify(body, headers, json_parse=False)
        except WebhookVerificationError:
            continue
        return Principal(
            kind=PrincipalKind.API_KEY,
            id=f"webhook-secret:{party}",
            name=f"{party} signed events",
            party=party,
            method=AuthMethod.SIGNED_EVENT,
            request_id=headers.get("webhook-id") or uuid.uuid4().hex,
        )
    await count_failure(ctx.pool, buckets)
    raise Unauthenticated("the event's Standard Webhooks signature does not verify")


async def answer_from_event(
    ctx: PartnerContext, principal: Principal, source: str, event_id: str, data: Any
) -> Receipt:
    """A `pacte.task.answer` event's answer, once per party, source and id: a repeat of an
    accepted event gets the same receipt, whatever it carries; another party's event with
    the same source and id is another event."""
    if not isinstance(data, dict):
        raise InvalidInput(
            "the event's data must be an object",
            [FieldError("data", "an object: convention_id, task_id, answer")],
        )
    convention_id, task_id = data.get("convention_id"), data.get("task_id")
    if not isinstance(convention_id, str) or not isinstance(task_id, str):
        raise InvalidInput(
            "the event names no task",
            [
                FieldError(f"data.{name}", "required")
                for name in ("convention_id", "task_id")
                if not isinstance(data.get(name), str)
            ],
        )
    body = {k: v for k, v in data.items() if k not in {"convention_id", "task_id"}}
    in_flight = "an event with this source and id is still being processed"
    return await answer_once(
        ctx,
        principal,
        convention_id,
        task_id,
        body,
        EventKey(source, event_id, principal.party),
        other_request=in_flight,
        in_flight=in_flight,
        no_receipt="this event's answer has no receipt",
    )
