"""Text PostgreSQL cannot store never reaches it: a NUL character or an unpaired surrogate in
any path parameter, query parameter, header, form field or JSON string, sent to EVERY route
the app declares, is refused at the edge (422 naming the field, 400 for a body that is not
UTF-8), never a 5xx (issue 28, item 6). The client is signed in on every desk at once (an
officer with TOTP, a contact's link session, a partner's API key), so a request that slipped
past the edge would reach the routes' own code and PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from fastapi.routing import iter_route_contexts
from temporalio.testing import WorkflowEnvironment

from tests.conftest import DEV_TASK_QUEUE
from tests.partner_stack import FUNDER, bearer, funding_convention, link_path, make_desk
from tests.test_office_desk import signed_in
from web.app import create_app
from web.security import unstorable

NUL = "x\x00y"
LONE_SURROGATE = "x\ud800y"
PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Probe:
    """One hostile request and the field its refusal must name."""

    method: str
    path: str
    field: str
    query: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    content: bytes | None = None
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None


def probes(app: Any) -> list[Probe]:
    """Every route's every method, with the hostile text in each place it can be put."""
    found: list[Probe] = []
    for route in iter_route_contexts(app.routes):
        path_format = str(route.path_format)
        methods = sorted(set(route.methods or {"GET"}) - {"HEAD"})
        params = PARAMETER.findall(path_format)
        if route.methods is None:  # a mount (the stylesheets): its rest of the path
            path_format, params = path_format + "/{path}", ["path"]
        dependant = getattr(route, "dependant", None)
        query_names = [f.alias for f in getattr(dependant, "query_params", [])] or ["probe"]
        body_names = [f.alias for f in getattr(dependant, "body_params", [])] or ["probe"]

        def filled(hostile: str | None, params: list[str] = params, fmt: str = path_format) -> str:
            path = fmt
            for name in params:
                value = "%00".join(["x", "y"]) if name == hostile else "x"
                path = re.sub(r"\{" + name + r"(?::\w+)?\}", value, path)
            return path

        for method in methods:
            plain = filled(None)
            for name in params:
                found.append(Probe(method, filled(name), f"path.{name}"))
            for name in query_names:
                found.append(Probe(method, plain, f"query.{name}", query={name: NUL}))
            found.append(Probe(method, plain, "header.x-probe", headers={"x-probe": NUL}))
            if method in {"GET", "DELETE"}:
                continue
            for name in body_names:
                form = {other: "x" for other in body_names} | {name: NUL}
                found.append(Probe(method, plain, f"body.{name}", data=form))
                for text in (NUL, LONE_SURROGATE):
                    document = {other: "x" for other in body_names} | {name: text}
                    found.append(
                        Probe(
                            method,
                            plain,
                            f"body.{name}",
                            content=json.dumps(document).encode(),
                            headers={"content-type": "application/json"},
                        )
                    )
                found.append(
                    Probe(
                        method,
                        plain,
                        f"body.{name}",
                        data={name: NUL},
                        files={
                            "attachment": ("a.pdf", b"%PDF-\x00binary is fine", "application/pdf")
                        },
                    )
                )
            nested = {"answer": {"decision": "approve", "comment": LONE_SURROGATE}}
            found.append(
                Probe(
                    method,
                    plain,
                    "body.answer.comment",
                    content=json.dumps(nested).encode(),
                    headers={"content-type": "application/cloudevents+json"},
                )
            )
    return found


async def refusals(http: httpx.AsyncClient, all_probes: list[Probe]) -> list[str]:
    """What went wrong: a 5xx, or an answer that is not a refusal naming the probe's field."""
    wrong: list[str] = []
    for probe in all_probes:
        response = await http.request(
            probe.method,
            probe.path,
            params=probe.query,
            headers=probe.headers,
            content=probe.content,
            data=probe.data,
            files=probe.files,
        )
        where = f"{probe.method} {probe.path} ({probe.field})"
        fields = []
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            fields = [error["field"] for error in response.json().get("errors", [])]
        if response.status_code not in (400, 422) or probe.field not in fields:
            wrong.append(f"{where}: {response.status_code} {fields}")
    # Server errors first: they are the ones the scanners found.
    return sorted(wrong, key=lambda line: " 5" not in line)


async def test_nul_and_lone_surrogates_are_refused_on_every_route_naming_the_field(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    key, _ = await desk.create_key("bid", "hostile text probe")
    app = create_app(desk, task_queue=DEV_TASK_QUEUE)
    all_probes = probes(app)
    assert len({p.path for p in all_probes}) > 40  # every route, not a few
    wrong: list[str] = []
    for signed in (False, True):
        address = f"10.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 1}.7"
        # A 500 is an answer to count, not an exception to stop at.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
            if signed:
                await signed_in(http, db_pool, "officer")
                opened = await http.get(link_path(convention.id, FUNDER["name"]))
                assert opened.status_code in (200, 303), opened.text  # a contact session
                http.headers.update(bearer(key))
            wrong += [
                f"{'signed in' if signed else 'anonymous'}: {line}"
                for line in await refusals(http, all_probes)
            ]
    assert not wrong, "\n".join(wrong[:40])


async def test_valid_text_passes_the_edge_untouched() -> None:
    # Paired surrogates are one character once decoded; NUL-free text in every script passes.
    assert unstorable("Fès — مكناس 😀 \u2068OFPPT\u2069") is None
    assert unstorable(json.loads('"\\ud83d\\ude00"')) is None
    assert unstorable(json.loads('"\\ud800"')) == "contains an unpaired surrogate"
    assert unstorable("a\x00") == "contains a NUL character"
