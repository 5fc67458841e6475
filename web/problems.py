"""RFC 9457 problem documents: every API error, with the fields at fault."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from application.errors import (
    BadRequest,
    CodeUnavailable,
    Conflict,
    ConventionNotAnswering,
    Forbidden,
    HistoryUnavailable,
    InvalidInput,
    LinkUnusable,
    NotFound,
    PacteError,
    Refused,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
)
from rendering.catalogues import N_
from schemas.errors import FieldError, Reason, RefusalCode

REFUSAL_CODES = frozenset(code.value for code in RefusalCode)

PROBLEM_TYPE = "application/problem+json"

# The one place where a domain refusal becomes HTTP: its status and its problem's title.
_STATUS_AND_TITLE: dict[type[PacteError], tuple[int, str]] = {
    PacteError: (400, N_("Bad request")),
    BadRequest: (400, N_("Bad request")),
    NotFound: (404, N_("Not found")),
    Unauthenticated: (401, N_("Unauthorized")),
    Forbidden: (403, N_("Forbidden")),
    LinkUnusable: (410, N_("Link no longer valid")),
    InvalidInput: (422, N_("Invalid answer")),
    Refused: (409, N_("Answer refused")),
    Conflict: (409, N_("Conflict")),
    TooManyAttempts: (429, N_("Too many attempts")),
    Unavailable: (503, N_("Unavailable")),
    CodeUnavailable: (503, N_("Code cannot be sent")),
    ConventionNotAnswering: (503, N_("Convention not answering")),
    HistoryUnavailable: (503, N_("History unavailable")),
}


def register(kind: type[PacteError], status: int, title: str) -> None:
    """Give a web-only refusal (a body that is not JSON, not a CloudEvent) its status."""
    _STATUS_AND_TITLE[kind] = (status, title)


def status_and_title(error: PacteError) -> tuple[int, str]:
    """The HTTP status and problem title of a refusal: its nearest mapped class decides."""
    for kind in type(error).__mro__:
        if kind in _STATUS_AND_TITLE:
            return _STATUS_AND_TITLE[kind]
    return _STATUS_AND_TITLE[PacteError]


def problem_of(error: PacteError) -> JSONResponse:
    """A refusal as an RFC 9457 problem; a workflow's typed refusal adds its stable `code`
    and its `params` beside the English `detail`."""
    status, title = status_and_title(error)
    detail = error.detail
    typed = isinstance(detail, Reason) and detail.code in REFUSAL_CODES
    extra = (
        {"code": detail.code, "params": detail.params}
        if isinstance(detail, Reason) and typed
        else None
    )
    return problem(status, title, error.detail, error.errors, error.retry_after, extra=extra)


def problem(
    status: int,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    retry_after: int | None = None,
    *,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """`application/problem+json`, with `errors: [{"field", "reason"}]` when fields are at fault
    and `extra` members (a refusal's `code` and `params`)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = str(detail)
    body |= extra or {}
    if errors:
        body["errors"] = [
            {"field": error.field.removeprefix("answer to ").strip(), "reason": error.reason}
            for error in errors
        ]
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="pacte"'
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)
