"""The document store against the real embedded PostgreSQL: content-addressed, written once,
every refusal before anything is stored, a tampered copy named."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg
import pytest

from documents.intake import (
    DOCX,
    ODT,
    PDF,
    ActiveContentRefused,
    DocumentTooLarge,
    DocumentTypeRefused,
    accept,
    sanitise_file_name,
)
from documents.settings import load_document_settings
from documents.store import DocumentDamaged, DocumentMissing, PostgresDocumentStore
from infra.settings import SettingsError
from storage import documents as sql
from tests.document_samples import (
    docx_with_paragraphs,
    odt_with_paragraphs,
    pdf_with_embedded_file,
    pdf_with_javascript,
    pdf_with_text,
)

MAX = 64 * 1024


def convention() -> str:
    return f"CONV-DOC-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(db_pool: asyncpg.Pool) -> PostgresDocumentStore:
    return PostgresDocumentStore(db_pool, max_bytes=MAX)


async def test_a_stored_document_comes_back_byte_for_byte_with_its_row(
    store: PostgresDocumentStore,
) -> None:
    content = pdf_with_text(["Convention de partenariat", "Version 1"])
    conv = convention()
    row = await store.put(
        content,
        file_name="convention-v1.pdf",
        uploaded_by="officer@ofppt.ma",
        convention_id=conv,
        task_id="draft-1",
    )
    assert row.sha256 == hashlib.sha256(content).hexdigest()
    assert (row.size_bytes, row.media_type, row.file_name) == (
        len(content),
        PDF,
        "convention-v1.pdf",
    )
    assert (row.uploaded_by, row.convention_id, row.task_id) == (
        "officer@ofppt.ma",
        conv,
        "draft-1",
    )
    assert await store.exists(row.sha256)
    assert await store.get(row.sha256) == content


async def test_the_same_bytes_twice_are_kept_once(
    store: PostgresDocumentStore, db_pool: asyncpg.Pool
) -> None:
    content = docx_with_paragraphs(["Article 1", f"unique {uuid.uuid4()}"])
    conv, other = convention(), convention()
    first = await store.put(
        content, file_name="v1.docx", uploaded_by="a", convention_id=conv, task_id="t"
    )
    again = await store.put(
        content, file_name="renamed.docx", uploaded_by="b", convention_id=conv, task_id="t"
    )
    elsewhere = await store.put(content, file_name="x.docx", uploaded_by="c", convention_id=other)
    assert first == again  # the first row stands: written once, never overwritten
    assert first.media_type == DOCX
    assert elsewhere.convention_id == other and elsewhere.sha256 == first.sha256
    assert await sql.count_contents(db_pool, first.sha256) == 1
    assert len(await sql.documents_of_convention(db_pool, conv)) == 1


async def test_a_document_is_found_only_through_its_own_convention(
    store: PostgresDocumentStore, db_pool: asyncpg.Pool
) -> None:
    content = odt_with_paragraphs([f"text {uuid.uuid4()}"])
    mine, theirs = convention(), convention()
    row = await store.put(content, file_name="t.odt", uploaded_by="a", convention_id=mine)
    assert row.media_type == ODT
    assert await sql.document_of_convention(db_pool, row.sha256, mine) == row
    assert await sql.document_of_convention(db_pool, row.sha256, theirs) is None


async def test_a_file_over_the_bound_is_refused_and_nothing_is_stored(
    store: PostgresDocumentStore,
) -> None:
    content = b"%PDF-1.7\n" + b"0" * MAX
    with pytest.raises(DocumentTooLarge, match=f"at most {MAX} bytes"):
        await store.put(content, file_name="big.pdf", uploaded_by="a", convention_id=convention())
    assert not await store.exists(hashlib.sha256(content).hexdigest())


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"MZ\x90\x00" + b"\x00" * 200, "Windows executable"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "Linux executable"),
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "HTML"),
        (b"\xef\xbb\xbf  <html><body>hi</body></html>", "HTML"),
        (b'<?xml version="1.0"?><svg onload="alert(1)"/>', "SVG"),
        (b"PK\x03\x04 not a zip at all", "damaged ZIP"),
        (b"\x00\x01\x02\x03 binary", "does not keep"),
        (b"%PDF-1.7\n garbage, no objects", "cannot be read"),
        (b"a plain text named as a PDF", "content is text/plain"),
    ],
)
async def test_a_pdf_that_is_not_one_is_refused_and_nothing_is_stored(
    store: PostgresDocumentStore, content: bytes, said: str
) -> None:
    with pytest.raises(DocumentTypeRefused, match=said):
        await store.put(
            content, file_name="convention.pdf", uploaded_by="a", convention_id=convention()
        )
    assert not await store.exists(hashlib.sha256(content).hexdigest())


@pytest.mark.parametrize(
    ("content", "said"),
    [(pdf_with_javascript(), "JavaScript"), (pdf_with_embedded_file(), "an embedded file")],
)
async def test_a_pdf_with_active_content_is_refused_and_nothing_is_stored(
    store: PostgresDocumentStore, content: bytes, said: str
) -> None:
    with pytest.raises(ActiveContentRefused, match=said):
        await store.put(content, file_name="c.pdf", uploaded_by="a", convention_id=convention())
    assert not await store.exists(hashlib.sha256(content).hexdigest())


def test_javascript_hidden_behind_name_escapes_is_still_found() -> None:
    content = pdf_with_javascript().replace(b"/JavaScript", b"/Java#53cript")
    with pytest.raises(ActiveContentRefused, match="JavaScript"):
        accept(content, "c.pdf", max_bytes=MAX)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\amina\\convention.pdf", "convention.pdf"),
        ("con\x00ven\x07tion\r\n.pdf", "con ven tion .pdf"),
        ("invoice\u202efdp.exe.pdf", "invoice fdp.exe.pdf"),
        ("zero\u200bwidth\u2066isolate.pdf", "zero width isolate.pdf"),
        ("...hidden.pdf", "hidden.pdf"),
        ("", "document.pdf"),
        ("/", "document.pdf"),
        ("اتفاقية الشراكة.pdf", "اتفاقية الشراكة.pdf"),
    ],
)
def test_file_names_are_kept_sanitised(raw: str, kept: str) -> None:
    assert sanitise_file_name(raw, PDF) == kept


async def test_a_500_character_name_is_cut_keeping_its_extension(
    store: PostgresDocumentStore,
) -> None:
    row = await store.put(
        pdf_with_text([f"long {uuid.uuid4()}"]),
        file_name="a" * 500 + ".pdf",
        uploaded_by="a",
        convention_id=convention(),
    )
    assert len(row.file_name) == 200 and row.file_name == "a" * 196 + ".pdf"


async def test_a_tampered_stored_document_is_named_when_read(
    store: PostgresDocumentStore, db_pool: asyncpg.Pool
) -> None:
    content = pdf_with_text([f"tamper {uuid.uuid4()}"])
    row = await store.put(content, file_name="t.pdf", uploaded_by="a", convention_id=convention())
    altered = bytearray(content)
    altered[len(altered) // 2] ^= 0x01
    await db_pool.execute(
        "UPDATE document_contents SET content = $2 WHERE sha256 = $1", row.sha256, bytes(altered)
    )
    with pytest.raises(DocumentDamaged, match=f"document {row.sha256}: the stored bytes hash"):
        await store.get(row.sha256)
    with pytest.raises(DocumentMissing):
        await store.get("0" * 64)


def test_the_size_bound_and_the_store_are_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PACTE_DOCUMENT_MAX_BYTES", raising=False)
    monkeypatch.delenv("PACTE_DOCUMENT_STORE", raising=False)
    assert load_document_settings().max_bytes == 25 * 1024 * 1024
    assert load_document_settings().store == "postgres"
    monkeypatch.setenv("PACTE_DOCUMENT_MAX_BYTES", "1048576")
    assert load_document_settings().max_bytes == 1048576
    for bad in ("-1", "25MB", "0"):
        monkeypatch.setenv("PACTE_DOCUMENT_MAX_BYTES", bad)
        with pytest.raises(SettingsError, match="PACTE_DOCUMENT_MAX_BYTES"):
            load_document_settings()
    monkeypatch.delenv("PACTE_DOCUMENT_MAX_BYTES")
    monkeypatch.setenv("PACTE_DOCUMENT_STORE", "s3")
    monkeypatch.delenv("PACTE_S3_ENDPOINT", raising=False)
    with pytest.raises(SettingsError, match="PACTE_S3_ENDPOINT"):
        load_document_settings()
