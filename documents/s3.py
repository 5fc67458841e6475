"""The S3-compatible document store: the bytes in a bucket under `sha256/<hash>`, the rows in
PostgreSQL as with the embedded store. Spoken over httpx with AWS Signature Version 4, the
one signing scheme every S3-compatible server accepts (AWS, MinIO, Ceph RGW, Garage, Scaleway,
OVH …); no S3 client library is installed (boto3 or aiobotocore would be the one to add for
multipart uploads of files far above the 25 MB bound, which a single PUT does not need).

Written once: a PUT carries `If-None-Match: *`, so a server that supports conditional writes
refuses to overwrite (412, taken as "already there"); the object's key is its SHA-256, and the
PUT carries that SHA-256 as `x-amz-content-sha256`, so the server rejects bytes damaged on the
way. The bucket's own versioning or object lock is the deployment's to switch on for
retention; Pacte never deletes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import asyncpg
import httpx

from documents.intake import accept
from documents.settings import S3Settings
from documents.store import DocumentMissing, checked, record_upload, sha256_hex
from storage import documents as sql
from storage.documents import DocumentRow

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
S3_TIMEOUT_SECONDS = 60.0


class S3Unavailable(OSError):
    """The bucket did not answer as S3 does; the message names the status and the key."""


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """SigV4's derived key: HMAC chain over the day, the region, the service."""
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), day)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def sigv4_headers(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    payload_sha256: str,
    access_key_id: str,
    secret_key: str,
    region: str,
    service: str = "s3",
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers to add to a request so that it is signed with AWS Signature Version 4:
    x-amz-date, x-amz-content-sha256 and Authorization."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    parts = urlsplit(url)
    host = parts.netloc
    signed = {key.lower(): " ".join(value.split()) for key, value in headers.items()}
    signed.update({"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_sha256})
    names = sorted(signed)
    canonical_query = "&".join(
        sorted(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
            for k, _, v in (pair.partition("=") for pair in parts.query.split("&") if pair)
        )
    )
    canonical_request = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/-_.~"),
            canonical_query,
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    signature = hmac.new(
        signing_key(secret_key, day, region, service),
        string_to_sign.encode("utf-8"),
        hashlib.sha256,
    ).hexdigest()
    return {
        "x-amz-date": amz_date,
        "x-amz-content-sha256": payload_sha256,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        ),
    }


class S3DocumentStore:
    """Bytes in an S3-compatible bucket (path-style URLs), rows in PostgreSQL."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: S3Settings,
        secret_key: str,
        *,
        max_bytes: int,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._secret_key = secret_key
        self._max_bytes = max_bytes
        self._client = client or httpx.AsyncClient(timeout=S3_TIMEOUT_SECONDS)

    @property
    def description(self) -> str:
        """Where the bytes are."""
        return f"S3 bucket {self._settings.bucket} at {self._settings.endpoint}"

    def _url(self, sha256: str) -> str:
        return f"{self._settings.endpoint}/{self._settings.bucket}/sha256/{sha256}"

    async def _send(
        self,
        method: str,
        sha256: str,
        *,
        body: bytes = b"",
        payload_sha256: str = EMPTY_SHA256,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        url = self._url(sha256)
        extra = dict(headers or {})
        signed = sigv4_headers(
            method=method,
            url=url,
            headers=extra,
            payload_sha256=payload_sha256,
            access_key_id=self._settings.access_key_id,
            secret_key=self._secret_key,
            region=self._settings.region,
        )
        try:
            return await self._client.request(
                method, url, content=body, headers={**extra, **signed}
            )
        except httpx.HTTPError as error:
            raise S3Unavailable(f"{self.description}: {type(error).__name__}: {error}") from None

    async def _has_object(self, sha256: str) -> bool:
        response = await self._send("HEAD", sha256)
        if response.status_code == 404:
            return False
        if response.status_code == 200:
            return True
        raise S3Unavailable(f"HEAD sha256/{sha256}: {response.status_code}")

    async def put(
        self,
        content: bytes,
        *,
        file_name: str | None,
        uploaded_by: str,
        convention_id: str,
        task_id: str | None = None,
    ) -> DocumentRow:
        """Check, put the bytes in the bucket unless there, then the rows: a row never
        names bytes the bucket does not hold."""
        document = accept(content, file_name, max_bytes=self._max_bytes)
        sha256 = sha256_hex(document.content)
        if not await self._has_object(sha256):
            response = await self._send(
                "PUT",
                sha256,
                body=document.content,
                payload_sha256=sha256,
                headers={"content-type": "application/octet-stream", "if-none-match": "*"},
            )
            # 412: written meanwhile by another upload of the same bytes, which is the same.
            if response.status_code not in (200, 201, 204, 412):
                raise S3Unavailable(f"PUT sha256/{sha256}: {response.status_code}")
        return await record_upload(
            self._pool,
            document,
            sha256,
            None,  # the bytes are in the bucket
            uploaded_by=uploaded_by,
            convention_id=convention_id,
            task_id=task_id,
        )

    async def get(self, sha256: str) -> bytes:
        """The bytes from the bucket, checked against their hash."""
        response = await self._send("GET", sha256)
        if response.status_code == 404:
            raise DocumentMissing(f"document {sha256}: not in {self.description}")
        if response.status_code != 200:
            raise S3Unavailable(f"GET sha256/{sha256}: {response.status_code}")
        return checked(sha256, response.content)

    async def exists(self, sha256: str) -> bool:
        """Whether bytes of this hash are kept (their row is written once the bucket has them)."""
        return await sql.content_exists(self._pool, sha256)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
