"""Documents through the desk (issue 25, "Tests and figures"): a 20 MB document uploaded and
downloaded through the partners' API of `portal.py` (its own process, on uvicorn, over the
run's Temporal, worker and PostgreSQL), against the same bytes copied by a bare `cp` and put
in (and read from) PostgreSQL by a bare `INSERT` (`SELECT`) on one asyncpg connection; and
the time to seal one convention's signed original.

The upload is `POST /api/v1/conventions/{id}/documents` (multipart, API key): the desk reads
the body, checks the size, sniffs the type and parses the whole PDF for active content,
hashes it and writes the row and the bytes in one transaction. Each upload is new bytes (the
store is content-addressed: the same bytes again would be one copy and no write). The
download is `GET …/documents/{sha256}`: the row, the bytes read back and hashed again, sent.
The document is a one-page PDF whose page draws a 20 MB image stream of random bytes (as a
scan is: incompressible).

Sealing is `documents.sealing.seal_original` on a ten-page approved text with three
signatories: the signature page drawn, the PDF assembled, sealed with PAdES under the
development office certificate and timestamped over HTTP by the local authority on
127.0.0.1 (the network round trip to a real TSA is not in it).

    .venv/bin/python -m benchmarks.documents [--size-mb 20] [--rounds 8] [--seals 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
import httpx

from application.conventions import start_convention
from benchmarks.bamako import bamako_convention
from benchmarks.partner_desk import Key, desk_process, make_keys
from benchmarks.report import (
    add_common_arguments,
    finish,
    percentile,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from benchmarks.worker import PACTE_QUEUE, BenchmarkWorker
from devkit.stack import Servers
from documents.certificates import development_pki
from documents.sealing import ApprovedText, Signatory, load_office_seal, seal_original
from documents.timestamps import LocalTimestampAuthority
from infra.database import create_pool
from infra.portal_settings import LINK_SECRET_VARIABLE

_BARE_TABLE = """
CREATE TABLE IF NOT EXISTS benchmark_blobs (id bigserial PRIMARY KEY, content bytea NOT NULL);
ALTER TABLE benchmark_blobs ALTER COLUMN content SET STORAGE EXTERNAL
"""
_BARE_PUT = "INSERT INTO benchmark_blobs (content) VALUES ($1) RETURNING id"
_BARE_GET = "SELECT content FROM benchmark_blobs WHERE id = $1"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--size-mb of the document, --rounds of each path, --seals timed; --quick: smaller."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.documents",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument("--size-mb", type=float, help="the document's size (default 20)")
    parser.add_argument("--rounds", type=int, help="uploads and downloads timed (default 8)")
    parser.add_argument("--seals", type=int, help="signed originals sealed (default 10)")
    args = parser.parse_args(argv)
    args.size_mb = args.size_mb or (2.0 if args.quick else 20.0)
    args.rounds = args.rounds or (2 if args.quick else 8)
    args.seals = args.seals or (2 if args.quick else 10)
    return args


def scan_like_pdf(size: int) -> bytes:
    """A valid one-page PDF drawing an image of `size` random bytes (a scan: incompressible)."""
    image = os.urandom(size)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /DCTDecode /Length "
        + str(len(image)).encode()
        + b" >>\nstream\n"
        + image
        + b"\nendstream",
        b"<< /Length 33 >>\nstream\nq 595 0 0 842 0 0 cm /Im1 Do Q\n\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


async def through_the_desk(
    http: httpx.AsyncClient, key: Key, convention_id: str, documents: list[bytes]
) -> tuple[list[float], list[float]]:
    """Seconds per upload and per download of each document, through the API."""
    uploads, downloads = [], []
    for number, content in enumerate(documents):
        started = time.perf_counter()
        response = await http.post(
            f"/api/v1/conventions/{convention_id}/documents",
            files={"file": (f"scan-{number}.pdf", content, "application/pdf")},
            headers=key.headers,
        )
        uploads.append(time.perf_counter() - started)
        if response.status_code != 201:
            raise RuntimeError(f"upload refused: {response.status_code} {response.text[:300]}")
        sha256 = response.json()["sha256"]
        started = time.perf_counter()
        download = await http.get(
            f"/api/v1/conventions/{convention_id}/documents/{sha256}", headers=key.headers
        )
        downloads.append(time.perf_counter() - started)
        if download.status_code != 200 or hashlib.sha256(download.content).hexdigest() != sha256:
            raise RuntimeError(f"download failed: {download.status_code}")
    return uploads, downloads


def bare_cp(documents: list[bytes], directory: Path) -> list[float]:
    """Seconds per `cp` of each document's file to another file on the same disk."""
    times = []
    for number, content in enumerate(documents):
        source = directory / f"source-{number}.pdf"
        source.write_bytes(content)
        started = time.perf_counter()
        subprocess.run(["cp", str(source), str(directory / f"copy-{number}.pdf")], check=True)
        times.append(time.perf_counter() - started)
    return times


async def bare_postgres(
    database_url: str, documents: list[bytes]
) -> tuple[list[float], list[float]]:
    """Seconds per bare INSERT of each document's bytes, and per SELECT of them back."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(_BARE_TABLE)
        puts, gets = [], []
        for content in documents:
            started = time.perf_counter()
            row_id = await connection.fetchval(_BARE_PUT, content)
            puts.append(time.perf_counter() - started)
            started = time.perf_counter()
            back = await connection.fetchval(_BARE_GET, row_id)
            gets.append(time.perf_counter() - started)
            if len(back) != len(content):
                raise RuntimeError("the bare read gave other bytes")
        await connection.execute("DROP TABLE benchmark_blobs")
    finally:
        await connection.close()
    return puts, gets


def ten_page_text() -> bytes:
    """An approved text of ten pages (a convention's usual length), drawn with pypdf."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for number in range(1, 11):
        page = writer.add_blank_page(width=595, height=842)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        lines = [f"Article {number}.{line} - dispositions de la convention" for line in range(45)]
        ops = ["BT", "/F1 11 Tf", "16 TL", "50 800 Td"] + [f"({text}) Tj T*" for text in lines]
        stream = DecodedStreamObject()
        stream.set_data("\n".join([*ops, "ET"]).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    import io

    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def time_sealing(state: Path, count: int) -> list[float]:
    """Seconds per signed original: signature page, assembly, PAdES seal, timestamp."""
    pki = development_pki(state)
    seal = load_office_seal(pki.office_pkcs12, pki.office_password, development=True)
    tsa = LocalTimestampAuthority(pki.tsa_certificate, pki.tsa_key)
    url = await tsa.start()
    text = ten_page_text()
    signed_at = datetime.now(UTC)
    signatories = [
        Signatory("Amina Diallo", "Directrice", "OFPPT", "Rabat", signed_at, "link"),
        Signatory("موسى كوليبالي", "الوزير", "وزارة التكوين المهني", "باماكو", signed_at, "code"),
        Signatory("Jean Dupont", "Chargé de mission", "AFD", "Paris", signed_at, "officer"),
    ]
    times = []
    try:
        for number in range(count + 1):
            approved = ApprovedText(
                convention_id=f"CONV-BENCH-{number:03d}",
                title="Convention de partenariat",
                version=3,
                sha256=hashlib.sha256(text).hexdigest(),
                pdf=text,
                languages=("fr", "ar", "en"),
            )
            started = time.perf_counter()
            await seal_original(approved, signatories, seal, url)
            if number:  # the first one warms up (fonts, pyHanko's imports)
                times.append(time.perf_counter() - started)
    finally:
        await tsa.stop()
    return times


async def _run(args: argparse.Namespace, servers: Servers, secret: str) -> int:
    size = int(args.size_mb * 1024 * 1024)
    template = scan_like_pdf(size)
    # Each round other bytes (one byte of the image changed): a content-addressed store
    # would otherwise keep the second upload as the first, writing nothing.
    inside = template.index(b"stream\n") + 1000  # a byte of the image, not of the structure
    documents = [
        template[:inside] + bytes([number % 256]) + template[inside + 1 :]
        for number in range(args.rounds + 1)
    ]
    pool = await create_pool(servers.database_url, max_size=2)
    try:
        convention = bamako_convention(f"documents-{uuid.uuid4().hex[:6]}")
        party = convention.parties[-1].id
        keys = await make_keys(pool, [party])
    finally:
        await pool.close()
    with BenchmarkWorker(servers, pacte=True):
        client = await servers.client()
        await start_convention(client, convention, PACTE_QUEUE)
        async with desk_process(servers, secret) as desk:
            print_load("before")
            async with httpx.AsyncClient(base_url=desk.base_url, timeout=120) as http:
                uploads, downloads = await through_the_desk(
                    http, keys[party], convention.id, documents
                )
            print_load("after")
    uploads, downloads = uploads[1:], downloads[1:]  # the first pair warms up
    with tempfile.TemporaryDirectory(prefix="pacte-bench-documents-") as scratch:
        copies = bare_cp(documents[1:], Path(scratch))
        seals = await time_sealing(Path(scratch), args.seals)
    puts, gets = await bare_postgres(servers.database_url, documents[1:])
    megabytes = size / 1024 / 1024
    rows = [
        [name, len(values), 1000 * percentile(values, 0.5), 1000 * percentile(values, 0.95)]
        for name, values in (
            (f"upload through the desk ({megabytes:.0f} MB)", uploads),
            (f"download through the desk ({megabytes:.0f} MB)", downloads),
            ("bare cp of the same file", copies),
            ("bare PostgreSQL INSERT (put)", puts),
            ("bare PostgreSQL SELECT (get)", gets),
            ("seal one signed original (10 pages, 3 signatories)", seals),
        )
    ]
    print_table(["path", "n", "p50 ms", "p95 ms"], rows)
    p50 = {
        name: percentile(values, 0.5)
        for name, values in (
            ("upload", uploads),
            ("download", downloads),
            ("cp", copies),
            ("put", puts),
            ("get", gets),
        )
    }
    print_ratio(
        "desk upload / bare PostgreSQL put, p50",
        p50["upload"] / p50["put"],
        target=None,
        at_least=False,
    )
    print_ratio(
        "desk download / bare PostgreSQL get, p50",
        p50["download"] / p50["get"],
        target=None,
        at_least=False,
    )
    print_ratio(
        "desk upload / bare cp, p50", p50["upload"] / p50["cp"], target=None, at_least=False
    )
    print_ratio(
        "desk download / bare cp, p50", p50["download"] / p50["cp"], target=None, at_least=False
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse, start the servers, the worker and the desk, measure, print."""
    args = parse_arguments(argv)
    print_header(
        "documents",
        {"size_mb": args.size_mb, "rounds": args.rounds, "seals": args.seals},
    )
    secret = base64.b64encode(os.urandom(32)).decode()
    os.environ[LINK_SECRET_VARIABLE] = secret
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers, secret))


if __name__ == "__main__":
    finish(main)
