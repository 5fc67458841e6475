"""Documents on the desks: the office uploads a version of the text with the drafting task's
form (and the CLI with `act … --file`), a reviewer downloads the exact bytes from her task page
and sees what changed since the version she last reviewed, the earlier rounds' comments and
the office's answers; the signature page shows the text to sign and its hash.

Real dev server, worker and PostgreSQL; the portal in process over httpx.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.conventions import (
    answer_open_task,
    convention_status,
    find_task,
    officer_on_behalf,
    start_convention,
)
from application.documents import store_of as desk_store
from application.partner import PartnerDesk
from application.sealing import seal_pending, sealed_original
from devkit.polling import eventually
from documents.certificates import development_pki
from documents.sealing import verify_sealed
from documents.text import pdf_text
from documents.timestamps import LocalTimestampAuthority
from schemas.convention import Convention
from tests.cli_runner import cli_env, run_cli
from tests.conftest import DEV_TASK_QUEUE, example
from tests.document_samples import docx_with_paragraphs, pdf_with_text
from tests.partner_stack import bearer, link_path, make_desk, portal_client, registered
from tests.test_delivery_webhook import stop
from tests.test_office_desk import csrf_of, office_client, signed_in
from tests.test_partner_links import open_task_page

REVIEWER = {"name": "Karim Benali", "email": "k.benali@dmk.example", "language": "fr"}
V2_TEXT = [
    "Article 1 - Objet de la convention",
    "Article 2 - Equipements, dans la mesure du possible",
    "Article 3 - Formations au profit des stagiaires",
]
V3_TEXT = [
    "Article 1 - Objet de la convention",
    "Article 2 - Equipements, dans la mesure du possible",
    "Article 3 - Formations au profit des stagiaires et des formateurs",
]
HREF = re.compile(r'href="(/desk/documents/[^"]+)"')


def drafting_and_signature(reviewer: dict[str, Any]) -> Convention:
    """MRE Academy reduced to its drafting and (parallel) signature stages, DMK's reviewer a
    contact with an address."""
    data = example("mre-academy").model_dump(mode="json")
    data["stages"] = [
        dict(s, order="parallel") if s["stage"] == "signature" else s
        for s in data["stages"]
        if s["stage"] in ("drafting", "signature")
    ]
    for party in data["parties"]:
        if party["id"] == "dmk":
            party["contacts"] = [reviewer]
    return Convention.model_validate(data)


async def link_minted(pool: asyncpg.Pool, convention_id: str, task_id: str) -> None:
    """Wait for the reviewer's link to this task to be stored by the task's notification."""
    await eventually(
        lambda: pool.fetchval(
            "SELECT count(*) FROM partner_links WHERE convention_id = $1 AND task_id = $2 "
            "AND contact_name = $3",
            convention_id,
            task_id,
            REVIEWER["name"],
        ),
        lambda count: bool(count),
    )


@dataclass
class Drafting:
    desk: PartnerDesk
    convention: Convention
    dmk_key: str
    v2: bytes
    v3: bytes


async def review(http: httpx.AsyncClient, convention_id: str, version: int, key: str) -> None:
    task = f"drafting.review.v{version}.dmk"
    answered = await http.post(
        f"/api/v1/tasks/{convention_id}/{task}/answer",
        json={
            "answer": {
                "decision": "request_changes",
                "version": version,
                "comments": f"Ajouter les formateurs (v{version})",
            }
        },
        headers=bearer(key),
    )
    assert answered.status_code == 200, answered.text


@pytest_asyncio.fixture(scope="module")
async def drafting(dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool) -> Drafting:
    """Version 1 (the file's, not held by Pacte) sent back by DMK; the revision task open."""
    desk = make_desk(dev_env.client, db_pool)
    convention = await registered(db_pool, drafting_and_signature(REVIEWER))
    await start_convention(dev_env.client, convention, DEV_TASK_QUEUE)
    await find_task(dev_env.client, convention.id, "drafting.review.v1.dmk", wait_seconds=30)
    key, _ = await desk.create_key("dmk", "DMK documents")
    async with portal_client(desk) as http:
        await review(http, convention.id, 1, key)
    await find_task(dev_env.client, convention.id, "drafting.revise.v2", wait_seconds=30)
    return Drafting(desk, convention, key, pdf_with_text(V2_TEXT), docx_with_paragraphs(V3_TEXT))


async def test_the_office_uploads_a_version_with_the_drafting_form_and_its_ref_is_the_files(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, drafting: Drafting
) -> None:
    convention = drafting.convention
    async with office_client(drafting.desk) as office:
        email = await signed_in(office, db_pool, "officer")
        form_page = await office.get(
            f"/office/conventions/{convention.id}/tasks/drafting.revise.v2"
        )
        assert form_page.status_code == 200, form_page.text
        assert 'enctype="multipart/form-data"' in form_page.text
        assert 'name="document.file"' in form_page.text
        # No hash is typed by hand any more.
        assert 'name="document.sha256"' not in form_page.text
        # The office sees what the reviewer asked, on which version.
        assert "Ajouter les formateurs (v1)" in form_page.text
        assert "mre-academy-dmk/projet-v1.docx" in form_page.text
        # An executable named .pdf: refused with the field's reason, nothing answered.
        refused = await office.post(
            f"/office/conventions/{convention.id}/tasks/drafting.revise.v2",
            data={"csrf": csrf_of(form_page), "comments": "v2"},
            files={"document.file": ("projet-v2.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
        )
        assert refused.status_code == 422, refused.text
        assert "Windows executable" in refused.text
        sent = await office.post(
            f"/office/conventions/{convention.id}/tasks/drafting.revise.v2",
            data={"csrf": csrf_of(form_page), "comments": "Formateurs ajoutés"},
            files={"document.file": ("projet-v2.pdf", drafting.v2, "application/octet-stream")},
        )
    assert sent.status_code == 200, sent.text
    await find_task(dev_env.client, convention.id, "drafting.review.v2.dmk", wait_seconds=30)
    status = await convention_status(dev_env.client, convention.id)
    version = [m for m in status.milestones if m.kind.value == "draft_version"][-1]
    document = version.details["document"]
    assert document == {
        "uri": f"archive:documents/{hashlib.sha256(drafting.v2).hexdigest()}",
        "sha256": hashlib.sha256(drafting.v2).hexdigest(),
        "size_bytes": len(drafting.v2),
        "media_type": "application/pdf",
    }
    row = await db_pool.fetchrow(
        "SELECT uploaded_by, task_id, file_name FROM documents WHERE sha256 = $1 "
        "AND convention_id = $2",
        document["sha256"],
        convention.id,
    )
    assert row["task_id"] == "drafting.revise.v2" and row["file_name"] == "projet-v2.pdf"
    # The office's convention page lists it, and gives back the exact bytes.
    async with office_client(drafting.desk) as office:
        await signed_in(office, db_pool, "auditor")
        page = await office.get(f"/office/conventions/{convention.id}")
        link = f"/office/conventions/{convention.id}/documents/{document['sha256']}"
        assert link in page.text and "projet-v2.pdf" in page.text
        downloaded = await office.get(link)
    assert downloaded.status_code == 200 and downloaded.content == drafting.v2
    assert downloaded.headers["content-type"] == "application/pdf"
    assert row["uploaded_by"].endswith(f"<{email}>")


async def test_the_reviewer_downloads_the_exact_bytes_and_sees_what_changed_and_the_rounds(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    postgres_url: str,
    drafting: Drafting,
    tmp_path: Path,
) -> None:
    convention = drafting.convention
    # v2 is under review (the previous test); DMK asks again, the CLI's use case sends v3.
    await find_task(dev_env.client, convention.id, "drafting.review.v2.dmk", wait_seconds=30)
    await link_minted(db_pool, convention.id, "drafting.review.v2.dmk")
    async with portal_client(drafting.desk) as http:
        # No comparison with version 1 (an archive: address): said in the page's language.
        page = await open_task_page(
            http, link_path(convention.id, REVIEWER["name"], "drafting.review.v2.dmk")
        )
        assert "la version 1 n&#39;est pas détenue par Pacte (archive:" in page.text, page.text
        await review(http, convention.id, 2, drafting.dmk_key)
    await find_task(dev_env.client, convention.id, "drafting.revise.v3", wait_seconds=30)
    # The office's command line: `act … --file PATH`, a refused file first (exit 1).
    env = cli_env(dev_env, postgres_url)
    act = ("act", convention.id, "drafting.revise.v3", "--as", "ofppt", "--officer", "awa")
    evil = tmp_path / "projet-v3.docx"
    evil.write_bytes(b"MZ\x90\x00 an executable")
    refused = await run_cli(*act, "--file", str(evil), env=env)
    assert refused.code == 1, refused
    assert refused.stderr.strip().startswith("refused:") and "executable" in refused.stderr
    # One line, then the field at fault, as the CLI says every refusal; no traceback.
    assert refused.stderr.strip().splitlines()[1].startswith("  file: ")
    assert "Traceback" not in refused.stderr
    evil.write_bytes(drafting.v3)
    comments = ("--comments", "Formateurs ajoutés à l'article 3")
    accepted = await run_cli(*act, *comments, "--file", str(evil), env=env)
    assert accepted.code == 0 and accepted.stdout.startswith("accepted: drafting.revise.v3")
    await find_task(dev_env.client, convention.id, "drafting.review.v3.dmk", wait_seconds=30)
    await link_minted(db_pool, convention.id, "drafting.review.v3.dmk")
    async with portal_client(drafting.desk) as http:
        page = await open_task_page(
            http, link_path(convention.id, REVIEWER["name"], "drafting.review.v3.dmk")
        )
        v3_hash = hashlib.sha256(drafting.v3).hexdigest()
        v2_hash = hashlib.sha256(drafting.v2).hexdigest()
        # The hash beside the link; version 1 (the file's archive: address) is shown as text.
        assert v3_hash in page.text and v2_hash in page.text
        assert "mre-academy-dmk/projet-v1.docx" in page.text
        links = HREF.findall(page.text)
        assert f"/desk/documents/{convention.id}/{v3_hash}" in links
        downloaded = await http.get(f"/desk/documents/{convention.id}/{v3_hash}")
        assert downloaded.status_code == 200
        assert downloaded.content == drafting.v3
        assert downloaded.headers["content-disposition"].startswith("attachment;")
        assert downloaded.headers["x-content-sha256"] == v3_hash
        assert "sandbox" in downloaded.headers["content-security-policy"]
        # What changed since v2 (a PDF) in v3 (a DOCX): the one line of article 3.
        assert "et des formateurs" in page.text
        assert 'class="added"' in page.text and 'class="removed"' in page.text
        assert "Article 1" not in re.findall(r'class="(?:added|removed)">([^<]*)', page.text)[0]
        # The earlier rounds: DMK's comments on v1 and v2, the office's answers.
        assert "Ajouter les formateurs (v1)" in page.text
        assert "Ajouter les formateurs (v2)" in page.text
        assert "Formateurs ajoutés à l&#39;article 3" in page.text
        # Another convention's hash, or a made-up one: not found, nothing disclosed.
        assert (await http.get(f"/desk/documents/{convention.id}/{'0' * 64}")).status_code == 404
        assert (
            await http.get(f"/desk/documents/other-{convention.id}/{v3_hash}")
        ).status_code == 404
    # Without a session: no bytes.
    async with portal_client(drafting.desk) as stranger:
        anonymous = await stranger.get(f"/desk/documents/{convention.id}/{v3_hash}")
        assert anonymous.status_code == 401


async def test_the_signature_page_shows_the_text_and_a_stale_hash_is_refused(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, drafting: Drafting
) -> None:
    convention = drafting.convention
    for party in ("mre-ministry", "dmk"):
        await answer_open_task(
            dev_env.client,
            convention.id,
            f"drafting.review.v3.{party}",
            party,
            {"decision": "approve", "version": 3},
            wait_seconds=30,
        )
    sign = "signature.sign.dmk-representant"
    await find_task(dev_env.client, convention.id, sign, wait_seconds=30)
    v3_hash = hashlib.sha256(drafting.v3).hexdigest()
    await link_minted(db_pool, convention.id, sign)
    async with portal_client(drafting.desk) as http:
        page = await http.get(link_path(convention.id, REVIEWER["name"], sign))
        assert page.status_code == 303
        page = await http.get(page.headers["location"])
        assert page.status_code == 200, page.text
        assert v3_hash in page.text
        assert f'name="document_sha256" value="{v3_hash}"' in page.text
        assert f"/desk/documents/{convention.id}/{v3_hash}" in page.text
        # The answer carries a hash that is not the text's: refused, with the reason.
        stale = await http.post(
            f"/api/v1/tasks/{convention.id}/{sign}/answer",
            json={"answer": {"decision": "sign", "document_sha256": "a" * 64}},
            headers=bearer(drafting.dmk_key),
        )
        assert stale.status_code == 409, stale.text
        assert "the text was changed" in stale.json()["detail"]
        assert f"version 3 (SHA-256 {v3_hash})" in stale.json()["detail"]
        # Sent without the hash: recorded against the text the task shows now (version 3).
        signed = await http.post(
            f"/api/v1/tasks/{convention.id}/{sign}/answer",
            json={"answer": {"decision": "sign"}},
            headers=bearer(drafting.dmk_key),
        )
        assert signed.status_code == 200, signed.text
        assert signed.json()["answer"]["document_sha256"] == v3_hash


async def test_the_office_seals_the_signed_original_which_validates_against_the_ca(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    drafting: Drafting,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    convention = drafting.convention
    await answer_open_task(
        dev_env.client,
        convention.id,
        "signature.sign.ofppt-dg",
        "ofppt",
        {"decision": "sign"},
        wait_seconds=30,
        principal=officer_on_behalf("awa", "ofppt"),
    )
    await eventually(
        lambda: db_pool.fetchval(
            "SELECT count(*) FROM milestones WHERE convention_id = $1 "
            "AND kind = 'entered_into_force'",
            convention.id,
        ),
        bool,
    )
    pki = development_pki(tmp_path)
    tsa = LocalTimestampAuthority(pki.tsa_certificate, pki.tsa_key)
    monkeypatch.setenv("PACTE_STATE_DIR", str(tmp_path))
    try:
        async with office_client(drafting.desk) as office:
            await signed_in(office, db_pool, "officer")
            page = await office.get(f"/office/conventions/{convention.id}")
            assert f"/office/conventions/{convention.id}/seal" in page.text
            # No timestamp authority configured: refused, saying what to set.
            monkeypatch.delenv("PACTE_TSA_URL", raising=False)
            refused = await office.post(
                f"/office/conventions/{convention.id}/seal", data={"csrf": csrf_of(page)}
            )
            assert refused.status_code == 409 and "PACTE_TSA_URL" in refused.text
            monkeypatch.setenv("PACTE_TSA_URL", await tsa.start())
            sealed = await office.post(
                f"/office/conventions/{convention.id}/seal", data={"csrf": csrf_of(page)}
            )
            assert sealed.status_code == 303, sealed.text
            page = await office.get(f"/office/conventions/{convention.id}")
            assert "signed-original-v3.pdf" in page.text
            assert f"/office/conventions/{convention.id}/seal" not in page.text
            # The portal's sweep (with a TSA configured) seals what is in force and not yet
            # sealed: this convention is sealed already, so it is left alone.
            assert convention.id not in await seal_pending(drafting.desk)
    finally:
        await tsa.stop()
    async with portal_client(drafting.desk) as http:
        original = await http.get(
            f"/api/v1/conventions/{convention.id}/signed-original",
            headers=bearer(drafting.dmk_key),
        )
    assert original.status_code == 200, original.text
    check = await verify_sealed(original.content, [pki.ca_certificate])
    assert check.ok, check
    # The signature page names the signatories and the signed text's hash.
    text = pdf_text(original.content)
    assert hashlib.sha256(drafting.v3).hexdigest() in text.replace("\n", "").replace(" ", "")
    assert "Page de signature" in text and "Loubna" in text and "Tricha" in text
    assert "(DMK)" in text  # the other signatory's organisation
    await stop(dev_env.client, convention.id)


async def test_the_sweep_seals_a_convention_in_force_whose_file_cites_a_stored_text(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = pdf_with_text(["Convention cadre", "Article unique"])
    sha256 = hashlib.sha256(text).hexdigest()
    data = drafting_and_signature(REVIEWER).model_dump(mode="json")
    desk = make_desk(dev_env.client, db_pool)
    # The file's first version cites a document Pacte holds for this convention.
    await desk_store(desk).put(
        text, file_name="cadre.pdf", uploaded_by="tests", convention_id=data["id"]
    )
    data["stages"][0]["document"] = {"uri": f"archive:documents/{sha256}", "sha256": sha256}
    convention = await registered(db_pool, Convention.model_validate(data))
    await start_convention(dev_env.client, convention, DEV_TASK_QUEUE)
    for party in ("mre-ministry", "dmk"):
        await answer_open_task(
            dev_env.client,
            convention.id,
            f"drafting.review.v1.{party}",
            party,
            {"decision": "approve", "version": 1},
            wait_seconds=30,
        )
    for signatory, party in (("ofppt-dg", "ofppt"), ("dmk-representant", "dmk")):
        await answer_open_task(
            dev_env.client,
            convention.id,
            f"signature.sign.{signatory}",
            party,
            {"decision": "sign", "document_sha256": sha256},
            wait_seconds=30,
            principal=officer_on_behalf("awa", party),
        )
    await eventually(
        lambda: db_pool.fetchval(
            "SELECT count(*) FROM milestones WHERE convention_id = $1 "
            "AND kind = 'entered_into_force'",
            convention.id,
        ),
        bool,
    )
    pki = development_pki(tmp_path)
    tsa = LocalTimestampAuthority(pki.tsa_certificate, pki.tsa_key)
    monkeypatch.setenv("PACTE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PACTE_TSA_URL", await tsa.start())
    try:
        outcome = await seal_pending(desk)
    finally:
        await tsa.stop()
    sealed = await sealed_original(desk, convention.id)
    assert sealed is not None and outcome[convention.id] == sealed.sha256
    check = await verify_sealed(await desk_store(desk).get(sealed.sha256), [pki.ca_certificate])
    assert check.ok, check
    await stop(dev_env.client, convention.id)
