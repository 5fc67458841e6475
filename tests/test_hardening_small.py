"""The smaller findings of issue 28 (item 7), each closed: math text in chart labels, a
document's uri as a link, PyYAML's merge keys, HSTS and `__Host-` cookies under https."""

from __future__ import annotations

import re
import time
import tomllib
import uuid

import asyncpg
import httpx
import pytest
import yaml
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from infra.portal_settings import PortalSettings
from infra.settings import PROJECT_ROOT
from schemas.convention_file import parse_document
from schemas.values import DocumentRef
from tests.conftest import DEV_TASK_QUEUE
from tests.partner_stack import make_desk
from tests.test_office_desk import enrol, new_account, sign_in
from web.app import create_app
from web.charts import bar_chart
from web.security import HSTS


@pytest.mark.parametrize("sector", ["$\\frac{$", "$x$", "$$", "a $ b $ c", "$\\alpha$"])
def test_a_sector_with_dollars_is_drawn_as_text_not_parsed_as_math(sector: str) -> None:
    svg = bar_chart(f"Pays — {sector}", [sector, "formation"], {sector: [3.0, 1.0]})
    assert "<svg" in svg
    assert sector in svg  # the label as written, kept as text


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(document.cookie)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//phishing.example/convention.pdf",
    ],
)
def test_a_documents_uri_that_is_not_a_web_address_or_an_archive_id_is_refused(uri: str) -> None:
    with pytest.raises(ValidationError, match="uri"):
        DocumentRef(uri=uri)


def test_web_addresses_archive_ids_and_paths_stay_accepted() -> None:
    for uri in ("https://docs.ofppt.ma/c.pdf", "http://intranet/c.pdf", "archive:ofppt/c.docx"):
        assert DocumentRef(uri=uri).uri == uri


def test_pyyaml_is_pinned_to_a_release_that_folds_merge_keys_once() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [pin] = [d for d in project["project"]["dependencies"] if d.lower().startswith("pyyaml")]
    floor = re.search(r">=\s*([\d.]+)", pin)
    assert floor and tuple(int(p) for p in floor.group(1).split(".")) >= (6, 0, 4), pin
    assert tuple(int(p) for p in yaml.__version__.split(".")[:3]) >= (6, 0, 4)


def test_a_merge_key_bomb_is_read_in_bounded_time() -> None:
    # yaml/pyyaml#897: each level merges the previous twice; before 6.0.4 the pairs doubled
    # at each level while constructing (24 levels: some 30 million pairs, minutes, gigabytes).
    lines = ["base0: &L0 {k0: v0}"]
    for level in range(1, 25):
        lines.append(f"L{level}: &L{level} {{<<: [*L{level - 1}, *L{level - 1}], k{level}: v}}")
    lines.append("target: {<<: [*L24, *L24]}")
    started = time.monotonic()
    document = parse_document("\n".join(lines), "bomb.yaml", as_json=False)
    assert time.monotonic() - started < 10
    assert len(document["target"]) == 25


async def test_under_https_the_portal_sends_hsts_and_host_prefixed_cookies(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(
        dev_env.client, db_pool, settings=PortalSettings(public_url="https://pacte.ofppt.ma")
    )
    app = create_app(desk, task_queue=DEV_TASK_QUEUE)
    address = f"10.{uuid.uuid4().int % 250 + 1}.9.9"
    transport = httpx.ASGITransport(app=app, client=(address, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="https://portal.test") as http:
        email = await new_account(db_pool, "officer")
        signed = await sign_in(http, email)
        assert signed.headers["strict-transport-security"] == HSTS
        # The session's cookie (the sign-in form's own cookie is cleared beside it).
        [cookie] = [
            header
            for header in signed.headers.get_list("set-cookie")
            if header.startswith("__Host-pacte_office=")
        ]
        assert cookie.startswith("__Host-pacte_office=")
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"secure", "path", "httponly"} <= attributes and "domain" not in attributes
        assert "Path=/" in cookie and "Path=/office" not in cookie
        # The session the prefixed cookie carries works: the TOTP set-up follows.
        http.cookies.clear()
        http.cookies.set("__Host-pacte_office", cookie.split(";")[0].split("=", 1)[1])
        enrolment = await http.get("/office/enrol")
        assert enrolment.status_code == 200, enrolment.text
        # A cookie without the prefix (planted by a subdomain or over http) is not read.
        planted = http.cookies["__Host-pacte_office"]
        http.cookies.clear()
        http.cookies.set("pacte_office", planted)
        assert (await http.get("/office/enrol")).status_code in (303, 401)


async def test_over_plain_http_nothing_is_prefixed_and_no_hsts_is_sent(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)  # http://127.0.0.1:8300: a development stack
    app = create_app(desk, task_queue=DEV_TASK_QUEUE)
    address = f"10.{uuid.uuid4().int % 250 + 1}.9.8"
    transport = httpx.ASGITransport(app=app, client=(address, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        email = await new_account(db_pool, "officer")
        await enrol(http, email)
        page = await http.get("/office")
        assert page.status_code == 200
        assert "strict-transport-security" not in page.headers
        assert "pacte_office" in http.cookies
