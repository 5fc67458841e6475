"""RFC 9457 problem documents: every API error, with the fields at fault."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from schemas.errors import FieldError

PROBLEM_TYPE = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    retry_after: int | None = None,
) -> JSONResponse:
    """`application/problem+json`, with `errors: [{"field", "reason"}]` when fields are at fault."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
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
