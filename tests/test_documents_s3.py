"""The S3-compatible store: its request signing reproduces AWS's published Signature V4
examples, and it keeps documents once in a real S3-speaking server on 127.0.0.1 (written for
these tests: a bucket in memory that checks each request's signature, its payload hash and
`If-None-Match: *`), with the rows in the real PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web

from documents.configured_store import open_document_store
from documents.intake import DocumentTypeRefused
from documents.s3 import (
    EMPTY_SHA256,
    S3DocumentStore,
    S3Unavailable,
    signing_key,
    sigv4_headers,
)
from documents.settings import DocumentSettings, S3Settings
from documents.store import DocumentDamaged, DocumentMissing, PostgresDocumentStore
from storage import documents as sql
from tests.document_samples import pdf_with_text

ACCESS_KEY = "PACTETESTKEY"
SECRET_KEY = "pacte-test-secret/0123456789"
BUCKET = "pacte-documents"
AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_the_signing_key_is_aws_published_example() -> None:
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_get_and_put_are_signed_as_in_the_s3_documentation() -> None:
    moment = datetime(2013, 5, 24, tzinfo=UTC)
    get = sigv4_headers(
        method="GET",
        url="https://examplebucket.s3.amazonaws.com/test.txt",
        headers={"Range": "bytes=0-9"},
        payload_sha256=EMPTY_SHA256,
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_key=AWS_EXAMPLE_SECRET,
        region="us-east-1",
        now=moment,
    )
    assert get["Authorization"].endswith(
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    body = b"Welcome to Amazon S3."
    put = sigv4_headers(
        method="PUT",
        url="https://examplebucket.s3.amazonaws.com/test$file.text",
        headers={
            "Date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
        },
        payload_sha256=hashlib.sha256(body).hexdigest(),
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_key=AWS_EXAMPLE_SECRET,
        region="us-east-1",
        now=moment,
    )
    assert put["Authorization"].endswith(
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    )


class LocalBucket:
    """A bucket over HTTP that answers HEAD, GET and PUT as S3 does, and checks signatures."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def _signed_correctly(self, request: web.Request) -> bool:
        authorization = request.headers.get("Authorization", "")
        found = re.search(r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})", authorization)
        if found is None or f"Credential={ACCESS_KEY}/" not in authorization:
            return False
        names = found.group(1).split(";")
        amz_date = request.headers["x-amz-date"]
        expected = sigv4_headers(
            method=request.method,
            url=f"http://{request.headers['Host']}{request.raw_path}",
            headers={n: request.headers[n] for n in names if n not in ("host",)},
            payload_sha256=request.headers["x-amz-content-sha256"],
            access_key_id=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region="us-east-1",
            now=datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC),
        )
        return expected["Authorization"] == authorization

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self._signed_correctly(request):
            return web.Response(status=403, text="SignatureDoesNotMatch")
        key = request.match_info["key"]
        if request.method == "PUT":
            if hashlib.sha256(body).hexdigest() != request.headers["x-amz-content-sha256"]:
                return web.Response(status=400, text="XAmzContentSHA256Mismatch")
            if request.headers.get("If-None-Match") == "*" and key in self.objects:
                return web.Response(status=412, text="PreconditionFailed")
            self.objects[key] = body
            self.puts += 1
            return web.Response(status=200)
        if key not in self.objects:
            return web.Response(status=404)
        if request.method == "HEAD":
            return web.Response(status=200)
        return web.Response(body=self.objects[key])


@pytest_asyncio.fixture
async def bucket() -> AsyncIterator[tuple[LocalBucket, str]]:
    local = LocalBucket()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", f"/{BUCKET}/{{key:.+}}", local.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield local, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def s3_settings(endpoint: str) -> S3Settings:
    return S3Settings(
        endpoint=endpoint, bucket=BUCKET, region="us-east-1", access_key_id=ACCESS_KEY
    )


async def test_the_s3_store_keeps_a_document_once_and_reads_it_back(
    bucket: tuple[LocalBucket, str], db_pool: asyncpg.Pool
) -> None:
    local, endpoint = bucket
    store = S3DocumentStore(db_pool, s3_settings(endpoint), SECRET_KEY, max_bytes=1 << 20)
    content = pdf_with_text([f"S3 {uuid.uuid4()}"])
    conv = f"CONV-S3-{uuid.uuid4().hex[:8]}"
    row = await store.put(content, file_name="v1.pdf", uploaded_by="a", convention_id=conv)
    again = await store.put(content, file_name="v1.pdf", uploaded_by="b", convention_id=conv)
    assert row == again and local.puts == 1
    assert local.objects == {f"sha256/{row.sha256}": content}
    assert await store.exists(row.sha256)
    assert await store.get(row.sha256) == content
    # The bytes are in the bucket, not in PostgreSQL: the row says they exist.
    assert await sql.read_content(db_pool, row.sha256) is None
    with pytest.raises(DocumentTypeRefused):
        await store.put(b"MZ\x90", file_name="x.pdf", uploaded_by="a", convention_id=conv)
    assert local.puts == 1
    local.objects[f"sha256/{row.sha256}"] = content[:-1] + b"X"
    with pytest.raises(DocumentDamaged, match=row.sha256):
        await store.get(row.sha256)
    with pytest.raises(DocumentMissing):
        await store.get("f" * 64)
    await store.close()


async def test_a_wrong_secret_is_refused_by_the_bucket_and_nothing_is_recorded(
    bucket: tuple[LocalBucket, str], db_pool: asyncpg.Pool
) -> None:
    _, endpoint = bucket
    store = S3DocumentStore(db_pool, s3_settings(endpoint), "not-the-secret", max_bytes=1 << 20)
    content = pdf_with_text([f"refused {uuid.uuid4()}"])
    with pytest.raises(S3Unavailable, match="403"):
        await store.put(content, file_name="a.pdf", uploaded_by="a", convention_id="CONV-S3-X")
    assert not await sql.content_exists(db_pool, hashlib.sha256(content).hexdigest())
    await store.close()


async def test_the_configuration_selects_the_store(
    db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(open_document_store(DocumentSettings(), db_pool, None), PostgresDocumentStore)
    settings = DocumentSettings(store="s3", s3=s3_settings("http://127.0.0.1:1"))
    monkeypatch.setenv("PACTE_S3_SECRET_ACCESS_KEY", SECRET_KEY)
    store = open_document_store(settings, db_pool, None)
    assert isinstance(store, S3DocumentStore)
    await store.close()
