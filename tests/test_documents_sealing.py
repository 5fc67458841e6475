"""The signed original: sealed with PAdES by pyHanko under the office's certificate, with a
timestamp from a real RFC 3161 authority on 127.0.0.1; validated by pyHanko's API and CLI
against the test CA; one changed byte, and both name the failure."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

pytest.importorskip(
    "pyhanko", reason="pyHanko is not installed in this interpreter (see docs/guides/documents.md)"
)

from documents.certificates import (
    DevelopmentPki,
    certificate_pem,
    development_pki,
    issue,
    new_certificate_authority,
    pkcs12_bytes,
)
from documents.sealing import (
    ApprovedText,
    SealingFailed,
    SealUnavailable,
    Signatory,
    configured_office_seal,
    load_office_seal,
    seal_original,
    verify_sealed,
)
from documents.settings import DocumentSettings
from documents.store import sha256_hex
from documents.timestamps import LocalTimestampAuthority
from tests.document_samples import pdf_with_text

TEXT_LINES = ["Convention de partenariat", "Article 1 - 150 stagiaires", "Article 2 - deux ans"]
SIGNED_AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentPki:
    return development_pki(tmp_path_factory.mktemp("state"))


@pytest_asyncio.fixture(scope="session")
async def tsa(pki: DevelopmentPki) -> AsyncIterator[LocalTimestampAuthority]:
    authority = LocalTimestampAuthority(pki.tsa_certificate, pki.tsa_key)
    await authority.start()
    yield authority
    await authority.stop()


def approved_text() -> ApprovedText:
    pdf = pdf_with_text(TEXT_LINES)
    return ApprovedText(
        convention_id="CONV-2026-BKO-01",
        title="Convention OFPPT – Bamako",
        version=2,
        sha256=sha256_hex(pdf),
        pdf=pdf,
        languages=("fr", "ar"),
    )


SIGNATORIES = [
    Signatory("Amina Diallo", "Directrice", "OFPPT", "Rabat", SIGNED_AT, "link"),
    Signatory("موسى كوليبالي", "الوزير", "وزارة التكوين المهني", "باماكو", SIGNED_AT, "code"),
    Signatory("Jean Dupont", "Chargé de mission", "AFD", "Paris", SIGNED_AT, "officer"),
]


@pytest_asyncio.fixture(scope="session")
async def sealed(pki: DevelopmentPki, tsa: LocalTimestampAuthority) -> bytes:
    seal = load_office_seal(pki.office_pkcs12, pki.office_password, development=True)
    return await seal_original(approved_text(), SIGNATORIES, seal, tsa.url)


async def test_the_sealed_original_validates_with_pyhanko_against_the_test_ca(
    sealed: bytes, pki: DevelopmentPki, tsa: LocalTimestampAuthority
) -> None:
    check = await verify_sealed(sealed, [pki.ca_certificate])
    assert check.problems == []
    assert check.ok and check.development
    assert check.signer is not None and "Pacte development office seal" in check.signer
    assert check.timestamp is not None
    assert abs(check.timestamp - datetime.now(UTC)) < timedelta(minutes=5)
    assert tsa.requests >= 1  # the timestamp came over HTTP from the local authority


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="Poppler's pdftotext is missing")
def test_the_original_holds_the_text_and_a_signature_page_that_says_it_is_development(
    sealed: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    ).stdout.decode()
    text = " ".join(text.split())  # table cells wrap over lines
    assert "Article 1 - 150 stagiaires" in text
    for expected in (
        "Page de signature",
        "Amina Diallo",
        "Directrice",
        "OFPPT",
        "Rabat",
        "2026-12-07 09:30:00",
        "un lien personnel",
        "un code à usage unique",
        "un agent de l'office, pour son compte",
        "Certificat de développement",
        approved_text().sha256,
        "Jean Dupont",
        "AFD",
    ):
        assert expected in text, expected
    assert "صفحة التوقيعات" in text or "التوقيعات" in text


def _changed(sealed: bytes, old: bytes, new: bytes) -> bytes:
    assert sealed.count(old) == 1
    return sealed.replace(old, new)


async def test_one_changed_byte_in_the_text_fails_validation_and_says_so(
    sealed: bytes, pki: DevelopmentPki
) -> None:
    tampered = _changed(sealed, b"Article 1 - 150", b"Article 1 - 190")
    check = await verify_sealed(tampered, [pki.ca_certificate])
    assert not check.ok
    assert any("the bytes it covers were changed" in problem for problem in check.problems)


async def test_a_byte_appended_after_the_seal_or_another_root_fails_validation(
    sealed: bytes, pki: DevelopmentPki, tmp_path: Path
) -> None:
    other_root = tmp_path / "other-ca.pem"
    other_root.write_bytes(certificate_pem(new_certificate_authority("Other CA").certificate))
    untrusted = await verify_sealed(sealed, [other_root])
    assert any("does not chain to a given trust root" in p for p in untrusted.problems)
    garbage = await verify_sealed(b"%PDF-1.7\nnot a sealed file", [pki.ca_certificate])
    assert not garbage.ok and "cannot be read" in garbage.problems[0]
    unsealed = await verify_sealed(pdf_with_text(["x"]), [pki.ca_certificate])
    assert unsealed.problems == ["the PDF carries no seal"]


def _pyhanko_cli() -> list[str]:
    beside = Path(sys.executable).parent / "pyhanko"
    if not beside.exists():
        pytest.skip("pyHanko's CLI (pyhanko-cli) is not installed beside this interpreter")
    return [str(beside)]


def test_pyhankos_own_cli_validates_the_original_and_refuses_a_changed_byte(
    sealed: bytes, pki: DevelopmentPki, tmp_path: Path
) -> None:
    good, bad = tmp_path / "sealed.pdf", tmp_path / "tampered.pdf"
    good.write_bytes(sealed)
    bad.write_bytes(_changed(sealed, b"Article 2 - deux", b"Article 2 - doux"))
    command = [
        *_pyhanko_cli(),
        "sign",
        "validate",
        "--trust",
        str(pki.ca_certificate),
        "--trust-replace",
    ]
    ok = subprocess.run([*command, str(good)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().startswith("PacteOfficeSeal:")
    assert ok.stdout.strip().endswith(":INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>,UNTOUCHED")
    failed = subprocess.run(
        [*command, "--pretty-print", str(bad)], capture_output=True, text=True, check=False
    )
    assert failed.returncode == 1
    assert "Field 1: PacteOfficeSeal" in failed.stdout
    assert "The signature is cryptographically unsound." in failed.stdout
    assert "The signature is judged INVALID." in failed.stdout


def test_a_missing_expired_or_locked_office_certificate_is_named(
    pki: DevelopmentPki, tmp_path: Path
) -> None:
    with pytest.raises(SealUnavailable, match="does not exist"):
        load_office_seal(tmp_path / "nowhere.p12", b"x")
    with pytest.raises(SealUnavailable, match="cannot be opened"):
        load_office_seal(pki.office_pkcs12, b"not the password")
    authority = new_certificate_authority()
    now = datetime.now(UTC)
    expired = issue(
        authority,
        "Expired seal",
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )
    path = tmp_path / "expired.p12"
    path.write_bytes(pkcs12_bytes(expired, [authority.certificate], b"pw"))
    with pytest.raises(SealUnavailable, match="expired on"):
        load_office_seal(path, b"pw")
    settings = DocumentSettings(office_certificate=tmp_path / "missing.p12")
    with pytest.raises(SealUnavailable, match="does not exist"):
        configured_office_seal(settings, tmp_path, None)


async def test_the_development_certificate_is_generated_once(tmp_path: Path) -> None:
    first = development_pki(tmp_path)
    again = development_pki(tmp_path)
    assert first.ca_certificate.read_bytes() == again.ca_certificate.read_bytes()
    assert first.office_password == again.office_password
    assert (first.directory / "office.password").stat().st_mode & 0o077 == 0
    seal = configured_office_seal(DocumentSettings(), tmp_path, None)
    assert seal.development


async def test_an_unreachable_timestamp_authority_fails_sealing_with_its_url(
    pki: DevelopmentPki,
) -> None:
    seal = load_office_seal(pki.office_pkcs12, pki.office_password, development=True)
    with pytest.raises(SealingFailed, match=r"127\.0\.0\.1:9"):
        await seal_original(approved_text(), SIGNATORIES[:1], seal, "http://127.0.0.1:9/")
