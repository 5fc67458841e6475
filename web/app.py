"""The portal's FastAPI application: contacts' pages, partners' API, one middleware.

`create_app` takes a ready PartnerDesk (tests build one over their own servers); `portal.py`
builds it from the environment in the app's lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException

from application.errors import PacteError
from application.office_desk import OfficeDesk
from application.partner_desk import PartnerDesk
from infra.settings import DEFAULT_TASK_QUEUE, read_environment
from schemas.tasks import AnswerTask
from web import api, office, pages
from web.problems import problem, problem_of
from web.security import Csrf, PortalMiddleware

STATIC_DIR = Path(__file__).resolve().parent / "static"
DeskFactory = Callable[[], Awaitable[tuple[PartnerDesk, Callable[[], Awaitable[None]]]]]


def create_app(
    desk: PartnerDesk | None = None,
    *,
    factory: DeskFactory | None = None,
    max_body_bytes: int = 1_000_000,
    task_queue: str | None = None,
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
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Outermost: its headers go on every answer, its limit before any body is read.
    app.add_middleware(PortalMiddleware, max_body_bytes=max_body_bytes)

    @app.exception_handler(PacteError)
    async def desk_error(request: Request, error: PacteError) -> Response:
        if request.url.path.startswith("/api/"):
            return problem_of(error)
        if request.url.path.startswith("/office"):
            return office.office_error(request, error)
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
        return pages.error_page(
            request, PacteError(str(error.detail)), status_code=error.status_code
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
            openapi_version="3.1.0",
        )
        answer_schema = TypeAdapter(AnswerTask).json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components = schema.setdefault("components", {})
        definitions = components.setdefault("schemas", {})
        definitions.update(answer_schema.pop("$defs", {}))
        definitions["AnswerTask"] = answer_schema
        components["securitySchemes"] = {
            "partnerKey": {"type": "http", "scheme": "bearer", "description": "pk_… API key"}
        }
        schema["security"] = [{"partnerKey": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _install(app: FastAPI, desk: PartnerDesk, task_queue: str) -> None:
    app.state.desk = desk
    app.state.csrf = Csrf(desk.csrf_key(), desk.settings.session_max_hours * 3600)
    app.state.office = OfficeDesk(partner=desk, task_queue=task_queue)
    app.state.office_csrf = Csrf(
        app.state.office.csrf_key(), desk.settings.session_max_hours * 3600
    )
