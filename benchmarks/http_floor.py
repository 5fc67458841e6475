"""The floor of any HTTP answer API here: a FastAPI route on uvicorn that only forwards its
JSON body as the bare update (`BareWaiter.answer`) and returns the update's result; and a
second that forwards it, as Pacte's AnswerTask, to Pacte's own workflow (`/pacte/…`).

No key, no idempotency, no PostgreSQL, no validation: what is left is the HTTP hop, the
framework and one Temporal update sent from another process, as the partner desk sends
its own. `benchmarks/partner_desk.py` times it beside the desk's answer and the bare
update from the driver, so the ratio asked of the desk can be read against what HTTP
alone costs on the machine. The client is made as the desk makes it
(`infra.temporal_client.connect`: the same data converter and codec).

    python -m benchmarks.http_floor --port P   (TEMPORAL_* from the environment)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client

from application.conventions import answer_task
from benchmarks.bare_workflows import BareWaiter
from infra.settings import load_settings
from infra.temporal_client import connect
from schemas.tasks import AnswerTask


def create_floor_app() -> FastAPI:
    """The one forwarding route, and a health route the launcher waits for."""
    clients: dict[str, Client] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        clients["temporal"] = await connect(load_settings())
        yield

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/bare/{workflow_id}")
    async def forward(workflow_id: str, request: Request) -> JSONResponse:
        payload: dict[str, Any] = await request.json()
        handle = clients["temporal"].get_workflow_handle(workflow_id)
        result = await handle.execute_update(BareWaiter.answer, payload)
        return JSONResponse(result)

    @app.post("/pacte/{convention_id}")
    async def forward_to_pacte(convention_id: str, request: Request) -> JSONResponse:
        # The same hop to Pacte's own workflow: the AnswerTask as the desk would send it
        # (principal included), no key, no idempotency, no PostgreSQL. What the desk adds
        # to an answer is the API's time less this one's.
        answer = AnswerTask.model_validate(await request.json())
        receipt = await answer_task(clients["temporal"], convention_id, answer)
        return JSONResponse(receipt.model_dump(mode="json"))

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve on 127.0.0.1:--port until terminated."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_floor")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_floor_app(), host="127.0.0.1", port=args.port, access_log=False, log_config=None
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
