"""Proof by a tool the project did not write (issue 28, item 8): schemathesis 4 runs against the
portal's published `/api/openapi.json`, served by uvicorn on 127.0.0.1 over the real stack
(dev server, worker, PostgreSQL), with a real partner key and the party's real webhook secret.
Every operation, every phase (examples, coverage, fuzzing, and stateful along the document's
links from the list to a task to its answer): no 5xx, every status
documented, every body valid against its schema, every content type and header the documented
one; and the auth enforced, schema-invalid input refused, missing required headers refused,
undeclared methods answered 405 with their `Allow`.

And the document describes every response body: a walk over it fails on a free-form object.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import asyncpg
import pytest
import requests
import uvicorn
from pydantic import BaseModel
from standardwebhooks import Webhook
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.testing import WorkflowEnvironment

from devkit.polling import eventually
from devkit.stack import free_port
from tests.conftest import WEBHOOK_SECRET
from tests.partner_stack import funding_convention, make_desk
from tests.test_delivery_webhook import stop
from web.app import api_document, create_app

# Small enough for a loaded 2-core machine (the whole run well under a minute), fixed seed
# and derandomized generation: the same requests on every run.
SEED = 28_08
MAX_EXAMPLES = 12
STATEFUL_STEPS = 6
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "ignored_auth",
    "negative_data_rejection",
    "unsupported_method",
    "missing_required_header",
    "allow_header_conformance",
)


# --- the document describes every response body -------------------------------------------


def free_form_objects(document: dict[str, Any]) -> list[str]:
    """Where a response body of the document is (or holds) an object whose fields are not
    described: `{}` (any value), or an object with neither properties, nor pattern
    properties, nor an `additionalProperties` schema (a `dict[str, Any]`); each as
    `METHOD path status media-type: where`."""
    schemas = document.get("components", {}).get("schemas", {})
    found: list[str] = []

    def walk(schema: Any, where: str, seen: frozenset[str]) -> None:
        if schema is True or schema == {}:
            found.append(f"{where}: any value")
            return
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(schemas[name], f"{where} -> {name}", seen | {name})
            return
        described = set(schema) - {"title", "description", "default", "examples", "deprecated"}
        if not described:
            found.append(f"{where}: any value")
        is_object = schema.get("type") == "object" or "additionalProperties" in schema
        extra = schema.get("additionalProperties")
        typed_keys = schema.get("properties") or schema.get("patternProperties")
        if is_object and not typed_keys and (extra in (None, True, {})):
            found.append(f"{where}: a free-form object")
        for name, field in schema.get("properties", {}).items():
            walk(field, f"{where}.{name}", seen)
        for pattern, field in schema.get("patternProperties", {}).items():
            walk(field, f"{where}[{pattern}]", seen)
        for combinator in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for index, branch in enumerate(schema.get(combinator, [])):
                walk(branch, f"{where}[{combinator}{index}]", seen)
        for key in ("items", "additionalProperties", "contains", "not"):
            if isinstance(schema.get(key), dict):
                walk(schema[key], f"{where}.{key}", seen)

    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if "$ref" in response:
                    name = response["$ref"].rsplit("/", 1)[-1]
                    response = document["components"]["responses"][name]
                for media_type, content in response.get("content", {}).items():
                    walk(
                        content.get("schema", {}),
                        f"{method.upper()} {path} {status} {media_type}",
                        frozenset(),
                    )
    return found


def test_the_document_describes_every_response_body() -> None:
    document = api_document(create_app(task_queue="schemathesis-document"))
    assert document["paths"], "no operation in the document"
    assert free_form_objects(document) == []


class _Loose(BaseModel):
    """A response model holding a free-form dictionary, as `ApiReceipt.answer` once was."""

    answer: dict[str, Any]


def test_the_walk_finds_a_free_form_dictionary() -> None:
    schema = _Loose.model_json_schema(ref_template="#/components/schemas/{model}")
    document = {
        "paths": {
            "/x": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/L"}}
                            }
                        },
                        "500": {"content": {"application/json": {"schema": {}}}},
                    }
                }
            }
        },
        "components": {"schemas": {"L": schema}},
    }
    assert free_form_objects(document) == [
        "GET /x 200 application/json -> L.answer: a free-form object",
        "GET /x 500 application/json: any value",
    ]


# --- schemathesis against the running portal ------------------------------------------------


class PartnerCredentials(requests.auth.AuthBase):
    """What a partner's system sends: its bearer key on the tasks, and on the events the
    Standard Webhooks signature of the very bytes sent (with the party's secret). A request
    schemathesis stripped of its credentials (a negative or an auth probe) stays stripped:
    the key is only set on requests schemathesis gives its auth to, and the signature only
    replaces a generated one."""

    def __init__(self, key: str, secret: str) -> None:
        self.key = key
        self.webhook = Webhook(secret)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = urlparse(request.url or "").path
        if not path.startswith("/api/v1/events/"):
            request.headers["Authorization"] = f"Bearer {self.key}"
            return request
        names = ("webhook-id", "webhook-timestamp", "webhook-signature")
        if not all(name in request.headers for name in names):
            return request
        body = request.body or b""
        assert isinstance(body, (bytes, str)), type(body)  # requests prepares whole bodies
        message_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        request.headers["webhook-id"] = message_id
        request.headers["webhook-timestamp"] = str(int(now.timestamp()))
        request.headers["webhook-signature"] = self.webhook.sign(message_id, now, body)
        return request


def schemathesis_config(base_url: str) -> Any:
    import schemathesis

    generation = {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": "all"}
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            "request-timeout": 30,
            "generation": generation,
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "phases": {
                # The coverage phase enumerates boundary values rather than sampling them:
                # its negative half alone is some 2,500 requests for the answers' union of
                # thirteen kinds (a minute here). Negative data comes from fuzzing instead.
                "coverage": {"generation": {"deterministic": True, "mode": "positive"}},
                "stateful": {"max-steps": STATEFUL_STEPS},
            },
            # The party whose secret signs the events: another party's path is refused 401
            # before any other check (the events' own tests cover that).
            "parameters": {"path.party": "bid"},
        }
    )


def run_schemathesis(url: str, credentials: PartnerCredentials) -> dict[str, Any]:
    """The engine the `schemathesis run` command drives, over the document at `url`; what it
    found, and what each operation answered."""
    import schemathesis
    from schemathesis.engine import Status, from_schema
    from schemathesis.engine import events as ev

    base_url = url.removesuffix("/api/openapi.json")
    schema = schemathesis.openapi.from_url(url, config=schemathesis_config(base_url))
    schema.auth.set_from_requests(credentials)
    failures: list[str] = []
    errors: list[str] = []
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    phases: set[str] = set()
    per_phase: Counter[str] = Counter()
    finished: Any = None
    transitions = 0
    for event in from_schema(schema).execute():
        if isinstance(event, (ev.ScenarioFinished, ev.FuzzScenarioFinished)):
            phase = str(getattr(event, "phase", "fuzzing"))
            phases.add(phase)
            for interaction in event.recorder.interactions.values():
                per_phase[phase] += 1
                if interaction.response is not None:
                    operation = _operation_of(interaction.request.method, interaction.request.uri)
                    statuses[operation][interaction.response.status_code] += 1
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(
                            f"{check.name}: {failure.title}: {failure.message}\n"
                            f"    {check.failure_info.code_sample}"
                        )
        elif isinstance(event, ev.PhaseStarted) and isinstance(
            event.payload, ev.StatefulPhasePayload
        ):
            transitions = event.payload.transitions_total
        elif isinstance(event, ev.NonFatalError):
            errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, ev.FatalError):
            errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, ev.EngineFinished):
            finished = event
    return {
        "failures": sorted(set(failures)),
        "errors": errors,
        "statuses": dict(statuses),
        "phases": phases,
        "per_phase": per_phase,
        "transitions": transitions,
        "stop_reason": finished.stop_reason if finished is not None else None,
        "operations": [
            f"{method.upper()} {path}"
            for path, operations in schema.raw_schema["paths"].items()
            for method in operations
        ],
    }


def _operation_of(method: str, uri: str) -> str:
    path = urlparse(uri).path
    parts = path.split("/")
    if path.startswith("/api/v1/events/"):
        template = "/api/v1/events/{party}"
    elif path == "/api/v1/tasks":
        template = path
    elif path.startswith("/api/v1/conventions/") and path.endswith("/signed-original"):
        template = "/api/v1/conventions/{convention_id}/signed-original"
    elif path.startswith("/api/v1/conventions/"):
        template = "/api/v1/conventions/{convention_id}/documents" + (
            "/{sha256}" if len(parts) == 7 else ""
        )
    elif path.endswith("/answer") and len(parts) == 7:
        template = "/api/v1/tasks/{convention_id}/{task_id}/answer"
    elif len(parts) == 6:
        template = "/api/v1/tasks/{convention_id}/{task_id}"
    else:
        template = path
    return f"{method.upper()} {template}"


def each_request_its_own_client(app: ASGIApp) -> ASGIApp:
    """The app as if every request came from another client: schemathesis sends hundreds of
    wrong keys and signatures on purpose, and from one address the limiter would answer 429
    past twenty, where the auth checks expect 401 (the limits have their own tests)."""

    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            octets = uuid.uuid4().bytes[:3]
            scope = {**scope, "client": ("10." + ".".join(map(str, octets)), 40000)}
        await app(scope, receive, send)

    return served


def _started(server: uvicorn.Server) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return bool(server.started)

    return probe


def _iter_statuses(statuses: dict[str, Counter[int]]) -> Iterator[str]:
    for operation, counts in sorted(statuses.items()):
        yield f"{operation}: " + ", ".join(f"{s}×{n}" for s, n in sorted(counts.items()))


async def test_schemathesis_finds_no_server_error_nor_schema_violation(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_BID", WEBHOOK_SECRET)
    # Every operation is probed without its key from this one address: with the documents'
    # three operations the probes pass the per-address failure bound, and the later probes are
    # answered 429, not 401. The bound itself is tested in tests/test_limits_bursts.py.
    monkeypatch.setattr("application.partner.keys.FAILURES_PER_ADDRESS", 200)
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    key, _ = await desk.create_key("bid", "schemathesis")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            each_request_its_own_client(create_app(desk)),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            proxy_headers=False,  # as portal.py serves it
        )
    )
    serving = asyncio.create_task(server.serve())
    began = time.monotonic()
    try:
        await eventually(_started(server), bool, what="uvicorn started")
        found = await asyncio.to_thread(
            run_schemathesis,
            f"http://127.0.0.1:{port}/api/openapi.json",
            PartnerCredentials(key, WEBHOOK_SECRET),
        )
    finally:
        server.should_exit = True
        await serving
        await stop(dev_env.client, convention.id)
    report = "\n".join(_iter_statuses(found["statuses"]))
    assert found["errors"] == [], found["errors"]
    assert found["failures"] == [], "\n".join(found["failures"]) + "\n" + report
    print(report, f"\n{time.monotonic() - began:.1f} s", found["per_phase"])
    # Every operation of the document was exercised, the keyed ones past the key (nine, with
    # the convention-free `POST /api/v1/documents`).
    assert set(found["operations"]) <= set(found["statuses"]), report
    assert len(found["operations"]) == 9, found["operations"]
    assert 200 in found["statuses"]["GET /api/v1/tasks"], report
    assert 200 in found["statuses"]["OPTIONS /api/v1/events/{party}"], report
    # The stateful phase followed the document's links (list -> task -> answer) to a real task.
    assert found["transitions"] >= 3, found["transitions"]
    assert 200 in found["statuses"]["GET /api/v1/tasks/{convention_id}/{task_id}"], report
    assert found["statuses"]["GET /api/v1/tasks/{convention_id}/{task_id}"].keys() - {401}, report
    print(report, f"\n{time.monotonic() - began:.1f} s", sorted(found["phases"]))
