"""The partners' REST API: their party's open tasks, one task, an answer. Thin: the rules
are the desk's (application/partner/)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response

from application.errors import BadRequest, InvalidInput
from application.partner import PartnerDesk, Receipt
from schemas.actors import Principal
from schemas.errors import FieldError
from web.problems import register
from web.security import client_address

router = APIRouter(prefix="/api/v1", tags=["tasks"])


def _desk(request: Request) -> PartnerDesk:
    desk: PartnerDesk = request.app.state.desk
    return desk


async def _principal(request: Request) -> Principal:
    return await _desk(request).authenticate_key(
        request.headers.get("authorization"), client_address(request)
    )


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    """A receipt as the API returns it."""
    return {
        "convention_id": receipt.convention_id,
        "task_id": receipt.task_id,
        "accepted_at": receipt.accepted_at.isoformat(),
        "principal": receipt.principal.model_dump(mode="json"),
        "answer": receipt.answer,
    }


@router.get("/tasks", summary="Your party's open tasks, overdue first, then by due date")
async def list_tasks(request: Request) -> dict[str, Any]:
    """Every open task of the key's party, across conventions."""
    principal = await _principal(request)
    entries = await _desk(request).open_tasks(principal.party)
    return {"party": principal.party, "tasks": [e.model_dump(mode="json") for e in entries]}


@router.get("/tasks/{convention_id}/{task_id}", summary="One of your party's tasks")
async def get_task(convention_id: str, task_id: str, request: Request) -> dict[str, Any]:
    """The task (open), or its receipt (answered); another party's task is not found."""
    principal = await _principal(request)
    view = await _desk(request).task_view(principal.party, convention_id, task_id)
    return {
        "convention": {"id": view.convention.id, "title": view.convention.title},
        "status": "open" if view.task is not None else view.closed,
        "task": view.task.model_dump(mode="json") if view.task else None,
        "answered_by": view.answered_by,
        "receipt": receipt_json(view.receipt) if view.receipt else None,
        "answer_path": f"/api/v1/tasks/{convention_id}/{task_id}/answer",
    }


@router.post(
    "/tasks/{convention_id}/{task_id}/answer",
    summary="Answer one of your party's tasks",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/AnswerTask"}}
            },
        }
    },
    responses={
        200: {"description": "Accepted: the receipt"},
        404: {"description": "Not one of your party's tasks"},
        409: {"description": "Refused by the workflow, or Idempotency-Key reused"},
        413: {"description": "Body too large"},
        422: {"description": "Invalid answer: errors by field"},
    },
)
async def answer(
    convention_id: str,
    task_id: str,
    request: Request,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """The body is the answer as `starter.py schema --answer` describes it (`answer`, and
    optionally `actor`); the task and the party come from the URL and the key."""
    principal = await _principal(request)
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BodyNotJson("the body is not JSON", [FieldError("", "not JSON")]) from None
    if not isinstance(body, dict):
        raise BodyNotJson("the body must be a JSON object", [FieldError("", "not an object")])
    receipt = await _desk(request).answer_with_key(
        principal, convention_id, task_id, body, idempotency_key
    )
    return JSONResponse(receipt_json(receipt))


class BodyNotJson(BadRequest):
    """The request body does not parse."""


register(BodyNotJson, 400, "Body is not JSON")


EVENT_TYPE = "pacte.task.answer"


@router.options("/events/{party}", tags=["events"], summary="CloudEvents webhook handshake")
async def event_handshake(party: str, request: Request) -> Response:
    """The CloudEvents webhook abuse-protection handshake: any origin may deliver here (each
    event is verified by its signature)."""
    origin = request.headers.get("webhook-request-origin")
    headers = {"allow": "POST, OPTIONS"}
    if origin:
        headers["webhook-allowed-origin"] = origin
        headers["webhook-allowed-rate"] = "120"
    return Response(status_code=200, headers=headers)


@router.post(
    "/events/{party}",
    tags=["events"],
    summary="Answer a task with a signed CloudEvent (structured or binary mode)",
    status_code=202,
    responses={
        202: {"description": "Accepted: the receipt (the same for a repeated source + id)"},
        401: {"description": "Signature missing, wrong, or outside five minutes"},
        404: {"description": "Not one of the party's tasks"},
        409: {"description": "Refused by the workflow"},
        422: {"description": "Not a pacte.task.answer event, or an invalid answer"},
    },
)
async def receive_event(party: str, request: Request) -> JSONResponse:
    """A `pacte.task.answer` CloudEvent, signed per Standard Webhooks with the party's secret
    (`PACTE_WEBHOOK_SECRET_<PARTY>`); `data` = {convention_id, task_id, answer, actor?}."""
    raw = await request.body()
    headers = {name.lower(): value for name, value in request.headers.items()}
    desk = _desk(request)
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
    return JSONResponse(
        {"event": {"source": event.get_source(), "id": event.get_id()}, **receipt_json(receipt)},
        status_code=202,
    )


class NotACloudEvent(InvalidInput):
    """The body is not the expected CloudEvent."""


register(NotACloudEvent, 422, "Not a pacte.task.answer CloudEvent")
