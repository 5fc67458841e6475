"""Attachments on answers through the partners' API (upload, then cite in the answer) and the
contact's form (a file sent with the answer), and the bad inputs: a file too large, a wrong or
mismatched type, an empty file, the same bytes twice, another party's convention, another
convention's document cited in an answer.

Real dev server, worker and PostgreSQL; the portal in process over httpx.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.partner import PartnerDesk
from documents.store import PostgresDocumentStore
from schemas.convention import Convention
from tests.conftest import SmtpServer
from tests.document_samples import pdf_with_javascript, pdf_with_text
from tests.partner_stack import (
    DECISION,
    FUNDER,
    bearer,
    funding_convention,
    link_path,
    make_desk,
    portal_client,
)
from tests.test_delivery_webhook import fast_delivery, stop
from tests.test_partner_links import CODE_ID, code_in, csrf_of, link_minted, open_task_page
from web.app import create_app

MAX_BYTES = 64 * 1024
"""The store's bound in these tests (the default is 25 MB): a small file is already too large."""


@dataclass
class Funding:
    desk: PartnerDesk
    convention: Convention
    other: Convention
    bid_key: str


@pytest_asyncio.fixture(scope="module")
async def funding(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> AsyncIterator[Funding]:
    """Two funding requests to the IsDB (bid), their decisions open; a small store bound; the
    code mails to a real SMTP server."""
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    desk = make_desk(dev_env.client, db_pool, delivery)
    desk.documents = PostgresDocumentStore(db_pool, max_bytes=MAX_BYTES)
    convention = await funding_convention(dev_env.client, db_pool)
    other = await funding_convention(dev_env.client, db_pool)
    key, _ = await desk.create_key("bid", "IsDB documents")
    yield Funding(desk, convention, other, key)
    for started in (convention, other):
        await stop(dev_env.client, started.id)


def documents_path(convention_id: str) -> str:
    return f"/api/v1/conventions/{convention_id}/documents"


async def upload(
    http: httpx.AsyncClient, key: str, convention_id: str, name: str, content: bytes
) -> httpx.Response:
    return await http.post(
        documents_path(convention_id),
        files={"file": (name, content, "application/octet-stream")},
        data={"task_id": DECISION},
        headers=bearer(key),
    )


async def rows_of(pool: asyncpg.Pool, sha256: str) -> tuple[int, int]:
    """(copies of the bytes, upload rows) of a hash."""
    copies = await pool.fetchval("SELECT count(*) FROM document_contents WHERE sha256 = $1", sha256)
    rows = await pool.fetchval("SELECT count(*) FROM documents WHERE sha256 = $1", sha256)
    return copies, rows


async def test_a_partner_uploads_a_letter_once_and_cites_it_in_its_answer(
    db_pool: asyncpg.Pool, funding: Funding
) -> None:
    letter = pdf_with_text(["Decision letter", funding.convention.id])
    sha256 = hashlib.sha256(letter).hexdigest()
    async with portal_client(funding.desk) as http:
        first = await upload(http, funding.bid_key, funding.convention.id, "lettre.pdf", letter)
        again = await upload(http, funding.bid_key, funding.convention.id, "copie.pdf", letter)
        assert first.status_code == 201, first.text
        stored = first.json()
        assert stored["sha256"] == sha256 and stored["size_bytes"] == len(letter)
        assert stored["media_type"] == "application/pdf" and stored["task_id"] == DECISION
        assert stored["reference"]["uri"] == f"archive:documents/{sha256}"
        # The same bytes for the same task: one copy, one row (the first name kept).
        assert again.status_code == 201 and again.json()["file_name"] == "lettre.pdf"
        assert await rows_of(db_pool, sha256) == (1, 1)
        downloaded = await http.get(stored["download_path"], headers=bearer(funding.bid_key))
        assert downloaded.status_code == 200 and downloaded.content == letter
        assert downloaded.headers["x-content-sha256"] == sha256
        answered = await http.post(
            f"/api/v1/tasks/{funding.convention.id}/{DECISION}/answer",
            json={
                "answer": {
                    "decision": "reject",
                    "comments": "Hors du champ du programme",
                    "attachments": [{"uri": stored["reference"]["uri"]}],
                }
            },
            headers=bearer(funding.bid_key),
        )
    assert answered.status_code == 200, answered.text
    # The answer records the attachment by hash, with its size and type from the store.
    assert answered.json()["answer"]["attachments"] == [
        {
            "uri": f"archive:documents/{sha256}",
            "sha256": sha256,
            "size_bytes": len(letter),
            "media_type": "application/pdf",
        }
    ]


async def test_bad_files_are_refused_and_nothing_is_stored(
    db_pool: asyncpg.Pool, funding: Funding
) -> None:
    other = funding.other.id
    too_large = pdf_with_text(["x" * 60] * 2) + b"%" * MAX_BYTES
    html = b"<!doctype html><html><script>alert(1)</script></html>"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    async with portal_client(funding.desk) as http:
        large = await upload(http, funding.bid_key, other, "grand.pdf", too_large)
        assert large.status_code == 413, large.text
        assert f"at most {MAX_BYTES} bytes" in large.json()["detail"]
        assert await rows_of(db_pool, hashlib.sha256(too_large).hexdigest()) == (0, 0)
        page = await upload(http, funding.bid_key, other, "dossier.pdf", html)
        assert page.status_code == 422 and "HTML" in page.json()["errors"][0]["reason"]
        mismatched = await upload(http, funding.bid_key, other, "dossier.pdf", png)
        assert mismatched.status_code == 422
        assert "named .pdf but its content is image/png" in mismatched.json()["detail"]
        empty = await upload(http, funding.bid_key, other, "vide.pdf", b"")
        assert empty.status_code == 422 and "empty" in empty.json()["detail"]
        scripted = await upload(http, funding.bid_key, other, "tdr.pdf", pdf_with_javascript())
        assert scripted.status_code == 422 and "JavaScript" in scripted.json()["detail"]
        for refused in (html, png, pdf_with_javascript()):
            assert await rows_of(db_pool, hashlib.sha256(refused).hexdigest()) == (0, 0)
        # A name with path separators, a right-to-left override, a bell and 500 characters:
        # kept sanitised (its last component, no control or formatting characters, 200 at most).
        hostile = "../../etc/\u202egpj.exe\x07" + "n" * 500 + ".pdf"
        named = await upload(http, funding.bid_key, other, hostile, pdf_with_text(["nom"]))
        assert named.status_code == 201, named.text
        kept = named.json()["file_name"]
        assert "/" not in kept and "\u202e" not in kept and "\x07" not in kept
        assert len(kept) <= 200 and kept.endswith(".pdf")
        # A convention the key's party is not a party to: not found, nothing stored.
        psa_key, _ = await funding.desk.create_key("psa", "PSA")
        stranger = await upload(http, psa_key, other, "note.pdf", pdf_with_text(["PSA"]))
        assert stranger.status_code == 404
        # Another convention's document cited in an answer: not found, nothing disclosed.
        theirs = await upload(
            http, funding.bid_key, funding.convention.id, "a.pdf", pdf_with_text(["A"])
        )
        cited = await http.post(
            f"/api/v1/tasks/{other}/{DECISION}/answer",
            json={
                "answer": {
                    "decision": "more_information",
                    "comments": "Voir la pièce",
                    "attachments": [theirs.json()["reference"]],
                }
            },
            headers=bearer(funding.bid_key),
        )
        assert cited.status_code == 404, cited.text
        downloaded = await http.get(
            f"{documents_path(other)}/{theirs.json()['sha256']}", headers=bearer(funding.bid_key)
        )
        assert downloaded.status_code == 404
        by_stranger = await http.get(theirs.json()["download_path"], headers=bearer(psa_key))
        assert by_stranger.status_code == 404


async def test_the_contacts_form_takes_a_file_and_refuses_one_too_large(
    db_pool: asyncpg.Pool, funding: Funding, smtp_server: SmtpServer
) -> None:
    other = funding.other.id
    await link_minted(db_pool, other, FUNDER["name"])
    dossier = pdf_with_text(["Demande d'informations", other])
    async with portal_client(funding.desk) as http:
        page = await open_task_page(http, link_path(other, FUNDER["name"]))
        assert 'name="attachments.file"' in page.text
        assert 'enctype="multipart/form-data"' in page.text
        form = {"csrf": csrf_of(page), "decision": "more_information", "comments": "Budget ?"}
        large = await http.post(
            f"/desk/tasks/{other}/{DECISION}",
            data=form,
            files={"attachments.file": ("grand.pdf", b"%PDF-" + b"0" * MAX_BYTES, "x/y")},
        )
        assert large.status_code == 413, large.text
        assert "Budget ?" in large.text  # what was typed is shown again
        mailed = len(smtp_server.catcher.to(FUNDER["email"]))
        sent = await http.post(
            f"/desk/tasks/{other}/{DECISION}",
            data=form,
            files={"attachments.file": ("questions.pdf", dossier, "application/pdf")},
        )
        # A funding decision is confirmed by a mailed code; the answer waits with its file.
        assert sent.status_code == 200, sent.text
        code_id = CODE_ID.search(sent.text)
        assert code_id is not None
        done = await http.post(
            f"/desk/codes/{code_id.group(1)}",
            data={
                "csrf": csrf_of(sent),
                "convention_id": other,
                "task_id": DECISION,
                "code": code_in(smtp_server, FUNDER["email"], mailed),
            },
        )
        assert done.status_code == 200, done.text
    receipt = await funding.desk.receipt(other, DECISION)
    assert receipt is not None
    [attached] = receipt.answer["attachments"]
    assert attached["sha256"] == hashlib.sha256(dossier).hexdigest()
    assert attached["media_type"] == "application/pdf" and attached["size_bytes"] == len(dossier)
    row = await db_pool.fetchrow(
        "SELECT uploaded_by, task_id, convention_id FROM documents WHERE sha256 = $1",
        hashlib.sha256(dossier).hexdigest(),
    )
    assert row is not None and row["task_id"] == DECISION and row["convention_id"] == other
    assert FUNDER["name"] in row["uploaded_by"] and "(bid)" in row["uploaded_by"]


async def test_only_the_upload_routes_take_a_body_as_large_as_a_document(
    funding: Funding,
) -> None:
    app = create_app(funding.desk, max_body_bytes=100_000, upload_max_bytes=400_000)
    transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 40000))
    body = b"%PDF-" + b"0" * 300_000
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        # A multipart upload to the documents API passes the portal's small bound, up to the
        # document's; the store then decides (here: over its own 64 KiB bound).
        stored = await upload(http, funding.bid_key, funding.other.id, "grand.pdf", body)
        assert stored.status_code == 413 and "the store keeps at most" in stored.json()["detail"]
        # Past the upload bound: refused before the body is read.
        huge = await upload(http, funding.bid_key, funding.other.id, "x.pdf", body * 2)
        assert huge.status_code == 413 and "store" not in huge.text
        # Any other route keeps the small bound, multipart or not.
        elsewhere = await http.post(
            "/desk/language", files={"file": ("x.pdf", body, "application/pdf")}
        )
        assert elsewhere.status_code == 413


async def test_an_upload_before_the_convention_is_named_joins_it_when_its_party_cites_it(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, funding: Funding
) -> None:
    convention = await funding_convention(dev_env.client, db_pool)
    letter = pdf_with_text(["Decision letter, uploaded first", convention.id])
    psa_key, _ = await funding.desk.create_key("psa", "PSA unattached")
    try:
        async with portal_client(funding.desk) as http:
            held = await http.post(
                "/api/v1/documents",
                files={"file": ("lettre.pdf", letter, "application/pdf")},
                headers=bearer(funding.bid_key),
            )
            assert held.status_code == 201, held.text
            reference = held.json()["reference"]
            assert held.json()["sha256"] == hashlib.sha256(letter).hexdigest()
            # Not any convention's yet: not downloadable from one.
            path = f"{documents_path(convention.id)}/{held.json()['sha256']}"
            assert (await http.get(path, headers=bearer(funding.bid_key))).status_code == 404
            # Another party's convention-free upload, cited by bid: not found, not disclosed.
            theirs = await http.post(
                "/api/v1/documents",
                files={"file": ("note.pdf", pdf_with_text(["PSA's note"]), "application/pdf")},
                headers=bearer(psa_key),
            )
            assert theirs.status_code == 201, theirs.text
            answer_path = f"/api/v1/tasks/{convention.id}/{DECISION}/answer"
            body = {"decision": "reject", "comments": "Hors du champ du programme"}
            stolen = await http.post(
                answer_path,
                json={"answer": {**body, "attachments": [theirs.json()["reference"]]}},
                headers=bearer(funding.bid_key),
            )
            assert stolen.status_code == 404, stolen.text
            # Bid's own, cited in bid's answer: the convention's document from now on.
            answered = await http.post(
                answer_path,
                json={"answer": {**body, "attachments": [{"uri": reference["uri"]}]}},
                headers=bearer(funding.bid_key),
            )
            assert answered.status_code == 200, answered.text
            (attached,) = answered.json()["answer"]["attachments"]
            assert attached["sha256"] == held.json()["sha256"]
            assert attached["size_bytes"] == len(letter)
            downloaded = await http.get(path, headers=bearer(funding.bid_key))
            assert downloaded.status_code == 200 and downloaded.content == letter
            # Bad input: no file at all.
            missing = await http.post("/api/v1/documents", headers=bearer(funding.bid_key))
            assert missing.status_code == 422
    finally:
        await stop(dev_env.client, convention.id)
