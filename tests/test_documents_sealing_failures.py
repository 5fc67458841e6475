"""Sealing failures and the sealed original's delivery: with an expired, then a missing office
certificate the convention is in force all the same, the portal's sweep records why it could
not seal and the office's task list and convention page say it; once the certificate is
fixed, the next sweep seals it, the task is gone, every signatory is mailed the PDF (a real
SMTP server on 127.0.0.1) and the partners' receipt page links it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

pytest.importorskip(
    "pyhanko", reason="pyHanko is not installed in this interpreter (see docs/guides/documents.md)"
)

from application.conventions import answer_open_task, officer_on_behalf, start_convention
from application.documents import store_of
from application.sealing import seal_pending, sealed_original
from devkit.polling import eventually
from documents.certificates import development_pki, issue, new_certificate_authority, pkcs12_bytes
from documents.timestamps import LocalTimestampAuthority
from infra.settings import DeliverySettings, SmtpSettings
from schemas.convention import Convention
from storage import documents as sql
from tests.conftest import DEV_TASK_QUEUE, SmtpServer
from tests.document_samples import pdf_with_text
from tests.partner_stack import link_path, make_desk, portal_client, registered
from tests.test_delivery_webhook import stop
from tests.test_documents_desk import REVIEWER, drafting_and_signature, link_minted
from tests.test_office_desk import office_client, signed_in
from tests.test_partner_links import open_task_page

DMK_SIGNATURE = "signature.sign.dmk-representant"


def expired_certificate(directory: Path) -> Path:
    authority = new_certificate_authority()
    now = datetime.now(UTC)
    expired = issue(
        authority,
        "Expired seal",
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )
    path = directory / "expired.p12"
    path.write_bytes(pkcs12_bytes(expired, [authority.certificate], b"pw"))
    return path


async def test_a_failed_seal_is_the_offices_task_until_the_sweep_seals_and_mails_it(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = pdf_with_text(["Convention cadre", "Article unique - scellement"])
    sha256 = hashlib.sha256(text).hexdigest()
    data = drafting_and_signature(REVIEWER).model_dump(mode="json")
    delivery = DeliverySettings(
        smtp=SmtpSettings(
            host=smtp_server.host,
            port=smtp_server.port,
            sender="pacte@office.example",
            user=None,
            starttls=False,
            tls=False,
        )
    )
    desk = make_desk(dev_env.client, db_pool, delivery=delivery)
    await store_of(desk).put(
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
    async with portal_client(desk) as contact:
        # DMK's contact opens the signature task (a session), and the officer signs for both.
        await link_minted(db_pool, convention.id, DMK_SIGNATURE)
        await open_task_page(contact, link_path(convention.id, REVIEWER["name"], DMK_SIGNATURE))
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
        await eventually(lambda: sql.entered_into_force(db_pool, convention.id), bool)

        pki = development_pki(tmp_path)
        tsa = LocalTimestampAuthority(pki.tsa_certificate, pki.tsa_key)
        monkeypatch.setenv("PACTE_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("PACTE_TSA_URL", await tsa.start())
        try:
            # An expired office certificate: refused, recorded, the convention in force.
            monkeypatch.setenv("PACTE_OFFICE_CERTIFICATE", str(expired_certificate(tmp_path)))
            monkeypatch.setenv("PACTE_OFFICE_CERTIFICATE_PASSWORD", "pw")
            outcome = await seal_pending(desk)
            assert outcome[convention.id].startswith("refused: the office certificate cannot seal")
            failure = await sql.sealing_failure(db_pool, convention.id)
            assert failure is not None and "expired on" in failure.reason
            assert await sql.entered_into_force(db_pool, convention.id)  # in force all the same
            async with office_client(desk) as office:
                await signed_in(office, db_pool, "officer")
                tasks = await office.get("/office/tasks?scope=all")
                assert "Signed originals to seal" in tasks.text or "sceller" in tasks.text
                assert convention.id in tasks.text and "expired on" in tasks.text
                page = await office.get(f"/office/conventions/{convention.id}")
                assert 'id="sealing-failure"' in page.text and "expired on" in page.text
            # Missing: tried again at the next sweep, the reason renewed, the attempts counted.
            monkeypatch.setenv("PACTE_OFFICE_CERTIFICATE", str(tmp_path / "nowhere.p12"))
            await seal_pending(desk)
            failure = await sql.sealing_failure(db_pool, convention.id)
            assert failure is not None and failure.attempts == 2
            assert "does not exist" in failure.reason
            assert await sealed_original(desk, convention.id) is None
            assert not smtp_server.catcher.to(REVIEWER["email"]) or all(
                convention.id not in str(m.message["Subject"])
                for m in smtp_server.catcher.to(REVIEWER["email"])
            )
            # Fixed (the development certificate): sealed, the task gone, the PDF mailed.
            monkeypatch.delenv("PACTE_OFFICE_CERTIFICATE")
            outcome = await seal_pending(desk)
        finally:
            await tsa.stop()
        sealed = await sealed_original(desk, convention.id)
        assert sealed is not None and outcome[convention.id] == sealed.sha256
        assert await sql.sealing_failure(db_pool, convention.id) is None
        mails = [
            mail
            for mail in smtp_server.catcher.to(REVIEWER["email"])
            if convention.id in str(mail.message["Subject"])
        ]
        assert len(mails) == 1
        message = mails[0].message
        assert message["Content-Language"] == "fr"
        body = message.get_body(preferencelist=("plain",))
        assert body is not None and sealed.sha256 in body.get_content()
        (attachment,) = list(message.iter_attachments())
        pdf = attachment.get_content()
        assert attachment.get_filename() == sealed.file_name
        assert hashlib.sha256(pdf).hexdigest() == sealed.sha256
        # The partners' receipt page links the sealed original, and the link gives its bytes.
        receipt = await contact.get(f"/desk/tasks/{convention.id}/{DMK_SIGNATURE}")
        assert 'id="signed-original"' in receipt.text and sealed.sha256 in receipt.text
        download = await contact.get(f"/desk/documents/{convention.id}/{sealed.sha256}")
        assert download.status_code == 200 and download.content == pdf
    await stop(dev_env.client, convention.id)
