"""The convention editor's validation round trip (issue 26): what an officer waits for when
they press *Save and check*.

A full convention file (`examples/bamako-cooperation.yaml`: eight parties, every kind of
stage) is imported as a draft, then its whole form is posted back (`POST
/office/editor/<draft>`, every field of every stage, as the browser sends it) `--requests`
times: once as it is (no error), once with three mistakes typed in (a title emptied, a
country that is not a code, a negative amount: every error beside its field). Each post
parses the form into a document, saves it as the draft's next version, checks it with the
convention models and renders the whole form again. Timed: the server's own time
(`Server-Timing`) of each post, against validating the same YAML with the pydantic model
alone in process (`parse_document` and `Convention.model_validate`, no form, no database,
no page): the ratio says what the editor costs on top of the check itself. Served by the
portal app in this process over a migrated embedded PostgreSQL, with no Temporal (the
editor's save and check never ask a workflow: any use of it fails the run).

    .venv/bin/python -m benchmarks.editor [--requests 200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
import httpx
import lxml.html
import yaml
from pydantic import ValidationError
from temporalio.client import Client

from application.office.accounts import create_user
from application.office.signin import SESSION_COOKIE
from application.partner import PartnerDesk
from benchmarks.report import (
    add_common_arguments,
    finish,
    percentile,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from devkit.stack import Servers
from infra.database import create_pool
from infra.portal_settings import PortalSettings, token_hash
from infra.settings import PROJECT_ROOT, DeliverySettings
from schemas.convention import Convention
from schemas.convention_file import parse_document
from storage.office_sessions import open_session
from web.app import create_app

FILE = PROJECT_ROOT / "examples" / "bamako-cooperation.yaml"
OFFICER = "benchmark.officer@ofppt.example"
_TIMING = re.compile(r"app;dur=([0-9.]+)")
_VERSION = re.compile(r'name="version" value="([0-9]+)"')
MISTAKES = {
    "title": "",
    "parties.1.country": "Mali",
    "stages.2.requested.amount": "-5",
}
"""Three mistakes typed into the form (form field names are the file's field paths)."""


class NoTemporal:
    """The desk's Temporal client here: any use of it fails the run."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the editor asked Temporal ({name})")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Sizes; --quick: small ones."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.editor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument("--requests", type=int, help="posts timed per case (200)")
    args = parser.parse_args(argv)
    args.requests = args.requests or (20 if args.quick else 200)
    return args


def make_desk(pool: asyncpg.Pool) -> PartnerDesk:
    """The desk over the migrated database, with no Temporal."""
    return PartnerDesk(
        pool=pool,
        client=cast(Client, NoTemporal()),
        settings=PortalSettings(),
        delivery=DeliverySettings(),
        secret=os.urandom(32),
    )


async def signed_in(pool: asyncpg.Pool) -> str:
    """An officer's session cookie, past its second factor."""
    await create_user(pool, OFFICER, "Awa Diallo", "officer", "correct horse battery staple")
    token = os.urandom(32).hex()
    now = datetime.now(UTC)
    await open_session(pool, token_hash(token), OFFICER, "signed_in", now, now + timedelta(days=1))
    return token


def form_values(page: str) -> list[tuple[str, str]]:
    """What the editor's form posts as it is shown."""
    [form] = [f for f in lxml.html.fromstring(page).forms if "editor" in (f.get("class") or "")]
    return [(str(name), str(value)) for name, value in form.form_values()]


def version_of(page: str) -> str:
    match = _VERSION.search(page)
    if match is None:
        raise RuntimeError("no version in the editor's page")
    return match.group(1)


async def time_posts(
    http: httpx.AsyncClient, draft: str, values: list[tuple[str, str]], requests: int, errors: int
) -> list[float]:
    """The server time of each post of the form (after five untimed); each post is made over
    the version the previous one saved, and must show `errors` errors."""
    measured: list[float] = []
    page = (await http.get(draft)).text
    for round_number in range(requests + 5):
        posted = [(n, v) for n, v in values if n not in ("version", "action")]
        posted += [("version", version_of(page)), ("action", "save")]
        response = await http.post(
            draft,
            content=urlencode(posted),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        expected = 422 if errors else 200
        if response.status_code != expected:
            raise RuntimeError(f"the editor answered {response.status_code}: {response.text[:500]}")
        page = response.text
        shown = len(lxml.html.fromstring(page).find_class("error"))
        if errors and shown < errors:
            raise RuntimeError(f"{shown} errors shown beside their fields, {errors} typed")
        match = _TIMING.search(response.headers.get("server-timing", ""))
        if match is None:
            raise RuntimeError("no Server-Timing header")
        if round_number >= 5:
            measured.append(float(match.group(1)))
    return measured


def time_model(text: str, requests: int) -> list[float]:
    """The same file read and checked by the pydantic model alone, in ms."""
    measured: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        with contextlib.suppress(ValidationError):
            Convention.model_validate(parse_document(text, FILE.name, as_json=False))
        measured.append(1000 * (time.perf_counter() - started))
    return measured


def with_mistakes(text: str) -> str:
    """The file with the same three mistakes, for the model's side."""
    document = parse_document(text, FILE.name, as_json=False)
    assert isinstance(document, dict)
    document["title"] = ""
    document["parties"][1]["country"] = "Mali"
    document["stages"][2]["requested"]["amount"] = "-5"
    return str(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    pool = await create_pool(servers.database_url, max_size=4)
    text = FILE.read_text("utf-8")
    try:
        desk = make_desk(pool)
        cookie = await signed_in(pool)
        app = create_app(desk)
        transport = httpx.ASGITransport(app=app, client=("10.26.3.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
            http.cookies.set(SESSION_COOKIE, cookie)
            drafts = await http.get("/office/editor")
            csrf = re.search(r'name="csrf" value="([^"]+)"', drafts.text)
            if csrf is None:
                raise RuntimeError(f"/office/editor answered {drafts.status_code}")
            imported = await http.post(
                "/office/editor",
                data={"csrf": csrf.group(1), "action": "import"},
                files={"file": (FILE.name, text.encode(), "application/yaml")},
            )
            values = form_values(imported.text)
            action = next(
                str(f.action)
                for f in lxml.html.fromstring(imported.text).forms
                if "editor" in (f.get("class") or "")
            )
            print(f"   {len(values):,} form fields posted per round trip", flush=True)
            wrong = [(n, MISTAKES.get(n, v)) for n, v in values]
            if sum(1 for n, _ in values if n in MISTAKES) != len(MISTAKES):
                raise RuntimeError("a field of the three mistakes is not in the form")
            print_load("before")
            clean = await time_posts(http, action, values, args.requests, 0)
            spoiled = await time_posts(http, action, wrong, args.requests, len(MISTAKES))
        model_clean = time_model(text, args.requests)
        model_spoiled = time_model(with_mistakes(text), args.requests)
        print_load("after")
    finally:
        await pool.close()
    rows: list[list[object]] = [
        ["POST the editor's form, no error", len(clean), *_p(clean), *_p(model_clean)],
        ["POST the editor's form, 3 mistakes", len(spoiled), *_p(spoiled), *_p(model_spoiled)],
    ]
    print_table(["editor round trip", "timed", "p50 ms", "p95 ms", "model p50", "model p95"], rows)
    print(
        "   (server time from Server-Timing: parse the form, save the draft's next version,"
        " check with the models, render the form; model: the same YAML read and validated"
        " by Convention.model_validate alone, in process)",
        flush=True,
    )
    for label, posts, model in (
        ("no error", clean, model_clean),
        ("3 mistakes", spoiled, model_spoiled),
    ):
        print_ratio(
            f"editor round trip p50 / the model alone p50 ({label})",
            percentile(posts, 0.5) / percentile(model, 0.5),
            target=None,
            at_least=False,
        )
    print_ratio(
        "editor round trip p95 server ms, 3 mistakes / 250 ms",
        percentile(spoiled, 0.95) / 250.0,
        target=1.0,
        at_least=False,
    )
    return 0


def _p(values: list[float]) -> list[float]:
    return [percentile(values, 0.5), percentile(values, 0.95)]


def main(argv: list[str] | None = None) -> int:
    """Parse, start PostgreSQL, measure, print."""
    args = parse_arguments(argv)
    print_header("editor validation round trip", {"requests": args.requests, "file": FILE.name})
    with Servers(keep=args.keep, temporal=False) as servers:
        return asyncio.run(_run(args, servers))


if __name__ == "__main__":
    finish(main)
