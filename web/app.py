"""The portal's FastAPI application: contacts' pages, partners' API, one middleware.

`create_app` takes a ready PartnerDesk (tests build one over their own servers); `portal.py`
builds it from the environment in the app's lifespan.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from application.documents import upload_limit
from application.errors import PacteError
from application.office.desk import OfficeDesk
from application.partner import PartnerDesk
from infra.settings import DEFAULT_TASK_QUEUE, read_environment
from schemas.partner_api import AnswerBody, AnswerEvent, EventAnswerData
from schemas.tasks import AnswerTask
from web import (
    api,
    documents,
    documents_api,
    office,
    office_account,
    office_audit,
    office_conventions,
    office_directory,
    office_directory_desk,
    office_documents,
    office_editor,
    office_officer,
    pages,
)
from web.problems import PROBLEM_TYPE, problem, problem_of
from web.security import Csrf, PortalMiddleware, StorableText

STATIC_DIR = Path(__file__).resolve().parent / "static"
DeskFactory = Callable[[], Awaitable[tuple[PartnerDesk, Callable[[], Awaitable[None]]]]]


def create_app(
    desk: PartnerDesk | None = None,
    *,
    factory: DeskFactory | None = None,
    max_body_bytes: int = 1_000_000,
    task_queue: str | None = None,
    upload_max_bytes: int | None = None,
) -> FastAPI:
    """The portal over a desk, given or built by `factory` at start (and closed at stop);
    the office desk (`/office`) beside it, starting conventions on `task_queue`."""
    queue = task_queue or read_environment().task_queue or DEFAULT_TASK_QUEUE

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        close: Callable[[], Awaitable[None]] | None = None
        if desk is None:
            assert factory is not None, "create_app needs a desk or a factory"
            built, close = await factory()
            _install(app, built, queue)
        yield
        if close is not None:
            await close()

    app = FastAPI(
        title="Pacte partner desk",
        version="1",
        summary="Answer the tasks a convention owes you: contacts' pages and partners' API.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI loads scripts from a CDN: against the CSP, and not needed
        redoc_url=None,
        lifespan=lifespan,
    )
    if desk is not None:
        _install(app, desk, queue)
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(office.router)
    app.include_router(office_directory.router)
    app.include_router(office_directory_desk.router)
    app.include_router(office_officer.router)
    app.include_router(office_editor.router)
    app.include_router(office_conventions.router)
    app.include_router(office_audit.router)
    app.include_router(documents.router)
    app.include_router(documents_api.router)
    app.include_router(office_documents.router)
    app.include_router(office_account.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Text PostgreSQL cannot store is refused before any route runs (inside the body limit).
    app.add_middleware(StorableText)
    # Outermost: its headers go on every answer, its limit before any body is read.
    app.add_middleware(
        PortalMiddleware,
        max_body_bytes=max_body_bytes,
        # A document and its form's fields (application/documents.py: the store's bound).
        upload_max_bytes=upload_max_bytes or upload_limit() + 1_000_000,
    )

    @app.exception_handler(PacteError)
    async def desk_error(request: Request, error: PacteError) -> Response:
        if request.url.path.startswith("/api/"):
            return problem_of(error)
        if request.url.path.startswith("/office"):
            return await office.office_error(request, error)
        return pages.error_page(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
            for e in error.errors()
        ]
        return JSONResponse(
            {"type": "about:blank", "title": "Invalid request", "status": 422, "errors": errors},
            status_code=422,
            media_type="application/problem+json",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return problem(error.status_code, str(error.detail), str(error.detail))
        if request.url.path.startswith("/office"):
            return await office.office_error(
                request, PacteError(str(error.detail)), status_code=error.status_code
            )
        return pages.error_page(
            request, PacteError(str(error.detail)), status_code=error.status_code
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        app.openapi_schema = api_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def api_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API: the routes' own models, the bodies the routes read
    themselves (an answer, a CloudEvent), problems as `application/problem+json`, and each
    route's own security (a bearer key; a Standard Webhooks signature for events)."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        routes=app.routes,
        openapi_version="3.1.0",
    )
    components = schema.setdefault("components", {})
    definitions = components.setdefault("schemas", {})
    bodies: list[tuple[str, type[BaseModel]]] = [
        ("AnswerBody", AnswerBody),
        ("AnswerEvent", AnswerEvent),
        ("EventAnswerData", EventAnswerData),
        # The update's payload as the workflow receives it (`starter.py schema --answer`):
        # what the desk builds from an AnswerBody and the caller's credentials.
        ("AnswerTask", AnswerTask),
    ]
    for name, model in bodies:
        body = model.model_json_schema(ref_template=_REF)
        for defined, definition in body.pop("$defs", {}).items():
            definitions.setdefault(defined, definition)
        definitions[name] = body
    components.setdefault("securitySchemes", {}).update(
        {
            "standardWebhooks": {
                "type": "apiKey",
                "in": "header",
                "name": "webhook-signature",
                "description": (
                    "Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp`"
                    " (within five minutes) and `webhook-signature` = `v1,` + base64 of"
                    " HMAC-SHA256 over `<id>.<timestamp>.<body>` with the party's secret"
                    " (`PACTE_WEBHOOK_SECRET_<PARTY>`)."
                ),
            }
        }
    )
    # Every refusal the API may answer, as a reusable response: each route lists its own.
    components["responses"] = {
        name: {
            "description": f"{status} {title}: an RFC 9457 problem",
            "content": {PROBLEM_TYPE: {"schema": {"$ref": _REF_PROBLEM}}},
        }
        for status, name, title in (
            (401, "Unauthorized", "Unauthorized"),
            (403, "Forbidden", "Forbidden"),
            (404, "NotFound", "Not found"),
            (409, "Conflict", "Conflict"),
            (413, "PayloadTooLarge", "Payload too large"),
            (422, "InvalidRequest", "Invalid request"),
            (429, "TooManyAttempts", "Too many attempts"),
        )
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                # A refusal is a problem document, under its own media type only (FastAPI's
                # own 422 too: the app's handler answers every invalid request with one).
                if str(status)[0] in "45":
                    response["content"] = {PROBLEM_TYPE: {"schema": {"$ref": _REF_PROBLEM}}}
    if "HTTPValidationError" not in json.dumps(schema["paths"]):
        definitions.pop("HTTPValidationError", None)
        definitions.pop("ValidationError", None)
    return schema


_REF = "#/components/schemas/{model}"
_REF_PROBLEM = "#/components/schemas/Problem"


def _install(app: FastAPI, desk: PartnerDesk, task_queue: str) -> None:
    app.state.desk = desk
    app.state.csrf = Csrf(desk.csrf_key(), desk.settings.session_max_hours * 3600)
    app.state.office = OfficeDesk(partner=desk, task_queue=task_queue)
    app.state.office.signin.notice_mail = office_account.lockout_notice_mail
    app.state.office_csrf = Csrf(
        app.state.office.csrf_key(), desk.settings.session_max_hours * 3600
    )
