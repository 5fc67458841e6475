"""The partners' REST API: their party's open tasks, one task, an answer, and signed
CloudEvents. Thin: the rules are the desk's (application/partner/); every route declares its
response model and its problems, so `/api/openapi.json` is the contract a client is built from.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from application.errors import BadRequest, InvalidInput
from application.partner import Receipt
from application.partner.task_pages import API_PAGE_MAX, API_PAGE_SIZE, CURSOR_MAX
from schemas.errors import FieldError
from schemas.partner_api import (
    EVENT_TYPE,
    ApiReceipt,
    ConventionRef,
    EventReceipt,
    EventRef,
    Problem,
    TaskDocument,
    TaskList,
)
from web.dependencies import ApiPrincipal, Desk, PartnerKey
from web.problems import PROBLEM_TYPE, register
from web.security import client_address

router = APIRouter(prefix="/api/v1")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of these refusals: each an RFC 9457 problem."""
    said = {
        400: "The body is not JSON, or not UTF-8 text",
        401: "No valid credential (missing, unknown or revoked key; a bad signature)",
        403: "Not allowed",
        404: "Not one of your party's tasks",
        409: "Refused by the workflow (the detail says who answered), or a once-only key reused",
        413: "Body too large",
        415: "Not a structured-mode CloudEvent (`application/cloudevents+json`): binary mode is"
        " refused, its `ce-*` attributes are outside the signature",
        422: "Invalid request: the fields at fault in `errors`",
        429: "Too many failed attempts from this address: wait `Retry-After` seconds",
        503: "The convention's workflow does not answer now: retry later",
    }
    return {
        status: {
            "model": Problem,
            "description": said[status],
            "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def api_receipt(receipt: Receipt) -> ApiReceipt:
    """A receipt as the API returns it."""
    return ApiReceipt(
        convention_id=receipt.convention_id,
        task_id=receipt.task_id,
        accepted_at=receipt.accepted_at,
        principal=receipt.principal,
        answer=receipt.answer,
    )


@router.get(
    "/tasks",
    operation_id="list_tasks",
    tags=["tasks"],
    summary="Your party's open tasks, overdue first, then by due date",
    response_model=TaskList,
    responses={
        200: {
            "description": "The open tasks",
            "links": {
                "GetFirstTask": {
                    "operationId": "get_task",
                    "parameters": {
                        "convention_id": "$response.body#/tasks/0/convention_id",
                        "task_id": "$response.body#/tasks/0/task_id",
                    },
                    "description": "The first listed task.",
                },
                "AnswerFirstTask": {
                    "operationId": "answer_task",
                    "parameters": {
                        "convention_id": "$response.body#/tasks/0/convention_id",
                        "task_id": "$response.body#/tasks/0/task_id",
                    },
                    "description": "Answer the first listed task.",
                },
            },
        },
        **problems(401, 422, 429),
    },
)
async def list_tasks(
    principal: ApiPrincipal,
    desk: Desk,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=API_PAGE_MAX,
            description=f"Tasks on the page (default {API_PAGE_SIZE}, at most {API_PAGE_MAX}).",
        ),
    ] = API_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(
            max_length=CURSOR_MAX,
            description="Where the page starts: the cursor in the page before's `next` link;"
            " none for the first page.",
        ),
    ] = None,
) -> TaskList:
    """A page of the open tasks of the key's party, across conventions: at most `limit`
    (default 100), and `next`, the link to the page after (null on the last). A caller
    naming neither gets the first page. A cursor the API did not make: 422 naming `cursor`."""
    page = await desk.party_tasks_page(principal.party, limit, cursor)
    following = (
        None
        if page.next_after is None
        else f"/api/v1/tasks?{urlencode({'limit': limit, 'cursor': page.next_after})}"
    )
    return TaskList(party=principal.party, tasks=page.entries, next=following)


@router.get(
    "/tasks/{convention_id}/{task_id}",
    operation_id="get_task",
    tags=["tasks"],
    summary="One of your party's tasks",
    response_model=TaskDocument,
    responses={
        200: {
            "description": "The task, or its receipt",
            "links": {
                "AnswerTask": {
                    "operationId": "answer_task",
                    "parameters": {
                        "convention_id": "$response.body#/convention/id",
                        "task_id": "$request.path.task_id",
                    },
                    "description": "Answer this task (at `answer_path`).",
                }
            },
        },
        **problems(401, 404, 422, 429, 503),
    },
)
async def get_task(
    convention_id: str, task_id: str, principal: ApiPrincipal, desk: Desk
) -> TaskDocument:
    """The task (open), or its receipt (answered); another party's task is not found."""
    view = await desk.task_view(principal.party, convention_id, task_id)
    return TaskDocument(
        convention=ConventionRef(id=view.convention.id, title=view.convention.title),
        status="open" if view.task is not None else view.closed,
        task=view.task,
        answered_by=view.answered_by,
        receipt=api_receipt(view.receipt) if view.receipt else None,
        answer_path=f"/api/v1/tasks/{convention_id}/{task_id}/answer",
    )


@router.post(
    "/tasks/{convention_id}/{task_id}/answer",
    operation_id="answer_task",
    tags=["tasks"],
    summary="Answer one of your party's tasks",
    response_model=ApiReceipt,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/AnswerBody"}}
            },
        }
    },
    responses={
        200: {"description": "Accepted: the receipt (the same again for a retried key)"},
        **problems(400, 401, 404, 409, 413, 422, 429, 503),
    },
)
async def answer(
    convention_id: str,
    task_id: str,
    request: Request,
    desk: Desk,
    _key: PartnerKey,
    idempotency_key: Annotated[
        str | None,
        Header(description="1 to 200 characters: a retry with the same body gets the same receipt"),
    ] = None,
) -> ApiReceipt:
    """The body is `AnswerBody`: `answer` (the fields of the task's kind), and optionally
    `actor`; the task and the party come from the URL and the key.

    The key is checked by the desk with the answer (one PostgreSQL statement for the key,
    the Idempotency-Key and the task), not by a dependency of its own: a body that does not
    parse is refused after the key, as before."""
    authorization, address = request.headers.get("authorization"), client_address(request)
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        await desk.authenticate_key(authorization, address)
        raise BodyNotJson("the body is not JSON", [FieldError("", "not JSON")]) from None
    if not isinstance(body, dict):
        await desk.authenticate_key(authorization, address)
        raise BodyNotJson("the body must be a JSON object", [FieldError("", "not an object")])
    receipt = await desk.answer_with_bearer(
        authorization, address, convention_id, task_id, body, idempotency_key
    )
    return api_receipt(receipt)


class BodyNotJson(BadRequest):
    """The request body does not parse."""


register(BodyNotJson, 400, "Body is not JSON")


_SIGNATURE_HEADERS = [
    {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }
    for name, description in (
        ("webhook-id", "The message id (Standard Webhooks)."),
        ("webhook-timestamp", "Unix seconds; refused beyond five minutes from the server's."),
        (
            "webhook-signature",
            "`v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>'>` with the party's secret"
            " (several, space separated, during a rotation).",
        ),
    )
]


@router.options(
    "/events/{party}",
    tags=["events"],
    operation_id="event_handshake",
    summary="CloudEvents webhook handshake",
    response_class=Response,
    responses={
        200: {
            "description": "Deliveries allowed from the requesting origin",
            "content": {"text/plain": {"schema": {"type": "string", "maxLength": 0}}},
            "headers": {
                "allow": {"schema": {"type": "string"}},
                "webhook-allowed-origin": {"schema": {"type": "string"}},
                "webhook-allowed-rate": {"schema": {"type": "string"}},
            },
        }
    },
    openapi_extra={
        "security": [],
        "parameters": [
            {
                "name": "webhook-request-origin",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
            }
        ],
    },
)
async def event_handshake(party: str, request: Request) -> Response:
    """The CloudEvents webhook abuse-protection handshake: any origin may deliver here (each
    event is verified by its signature)."""
    origin = request.headers.get("webhook-request-origin")
    headers = {"allow": "POST, OPTIONS"}
    if origin:
        headers["webhook-allowed-origin"] = origin
        headers["webhook-allowed-rate"] = "120"
    return Response(status_code=200, headers=headers, media_type="text/plain")


@router.post(
    "/events/{party}",
    tags=["events"],
    operation_id="answer_event",
    summary="Answer a task with a signed CloudEvent (structured mode)",
    status_code=202,
    response_model=EventReceipt,
    responses={
        202: {"description": "Accepted: the receipt (the same for a repeated source + id)"},
        **problems(400, 401, 404, 409, 413, 415, 422, 429, 503),
    },
    openapi_extra={
        "security": [{"standardWebhooks": []}],
        "parameters": _SIGNATURE_HEADERS,
        "requestBody": {
            "required": True,
            "content": {
                "application/cloudevents+json": {
                    "schema": {"$ref": "#/components/schemas/AnswerEvent"}
                },
            },
        },
    },
)
async def receive_event(party: str, request: Request, desk: Desk) -> EventReceipt:
    """A `pacte.task.answer` CloudEvent, signed per Standard Webhooks with the party's secret
    (`PACTE_WEBHOOK_SECRET_<PARTY>`); `data` = {convention_id, task_id, answer, actor?}.

    Structured mode only: Standard Webhooks signs the message id, the timestamp and the body,
    so in binary mode the event's `ce-id`, `ce-source`, `ce-type` and `ce-time` would travel
    unsigned beside it (a captured request replayed under a new id or source would be a new
    event). Structured mode carries the same attributes inside the signed body."""
    raw = await request.body()
    headers = {name.lower(): value for name, value in request.headers.items()}
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != STRUCTURED_MODE:
        raise StructuredModeOnly(
            "binary mode is not accepted: its ce-* attributes are outside the signature; send "
            f"the event in structured mode, as {STRUCTURED_MODE}",
            [FieldError("content-type", f"must be {STRUCTURED_MODE}, not {media_type!r}")],
        )
    principal = await desk.verify_event(party, raw, headers, client_address(request))
    try:
        event = from_http_event(HTTPMessage(headers=headers, body=raw))
    except Exception as error:  # the SDK raises several kinds; each is a malformed event
        raise NotACloudEvent(
            "not a CloudEvent", [FieldError("", f"{type(error).__name__}: not a CloudEvent")]
        ) from None
    if event.get_type() != EVENT_TYPE:
        raise NotACloudEvent(
            "unexpected event type",
            [FieldError("type", f"must be {EVENT_TYPE!r}, not {event.get_type()!r}")],
        )
    receipt = await desk.answer_from_event(
        principal, event.get_source(), event.get_id(), event.get_data()
    )
    return EventReceipt(
        event=EventRef(source=event.get_source(), id=event.get_id()),
        **api_receipt(receipt).model_dump(),
    )


class NotACloudEvent(InvalidInput):
    """The body is not the expected CloudEvent."""


class StructuredModeOnly(InvalidInput):
    """A CloudEvent in binary mode (or not a CloudEvent's media type at all)."""


STRUCTURED_MODE = "application/cloudevents+json"
register(NotACloudEvent, 422, "Not a pacte.task.answer CloudEvent")
register(StructuredModeOnly, 415, "Structured-mode CloudEvents only")
