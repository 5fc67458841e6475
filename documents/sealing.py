"""The signed original: the approved text and a signature page, sealed with PAdES (pyHanko)
under the office's certificate, with an RFC 3161 timestamp from the configured authority.

What the seal proves: that these bytes (the text and the page listing who signed, in what
capacity, where, when and how each proved who they were) left Pacte under the office's
certificate, no later than the timestamp's time; one changed byte and a validator says so.
What it does not prove: each signatory's own signature (Pacte records how each identity was
proven; the seal is the office's, not theirs), nor anything under a development certificate
(`documents/certificates.py`), which the page says.

The PAdES level is B-T (signature and timestamp). B-LT/B-LTA, which embed revocation data for
validation after the certificates expire, need the office CA's CRL or OCSP responder; the
development CA has none.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from pypdf import PdfReader, PdfWriter

from documents.certificates import DEVELOPMENT_MARK, development_pki
from documents.settings import DocumentSettings
from infra.secrets import SecretError, named_secret

SEAL_FIELD = "PacteOfficeSeal"
TSA_TIMEOUT_SECONDS = 30

IdentityProof = Literal["link", "code", "key", "officer"]
Language = Literal["fr", "ar", "en"]


class SealUnavailable(RuntimeError):
    """The office's certificate cannot seal (missing, unreadable, expired): the convention
    still enters into force; sealing is retried once an officer fixes what this names."""


class SealingFailed(RuntimeError):
    """The seal could not be made (the timestamp authority unreachable, a PDF pyHanko cannot
    sign); the message says which."""


@dataclass(frozen=True)
class Signatory:
    """One signature as the record holds it."""

    name: str
    capacity: str
    organisation: str
    place: str
    signed_at: datetime
    identity_proof: IdentityProof


@dataclass(frozen=True)
class ApprovedText:
    """The text that was signed: its PDF and the hash the signatures were recorded against."""

    convention_id: str
    title: str
    version: int
    sha256: str
    pdf: bytes
    languages: Sequence[Language] = ("fr",)


@dataclass(frozen=True)
class OfficeSeal:
    """The office's key and certificate, ready to seal."""

    pkcs12: bytes
    password: bytes | None
    subject: str
    not_after: datetime
    development: bool
    chain: tuple[x509.Certificate, ...] = field(default=())


def load_office_seal(
    path: Path, password: bytes | None, *, development: bool = False, now: datetime | None = None
) -> OfficeSeal:
    """The PKCS#12 file's key and certificate, checked: present, readable with this password,
    valid now. SealUnavailable names what is wrong (never the password)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SealUnavailable(f"the office certificate {path} does not exist") from None
    except OSError as error:
        raise SealUnavailable(f"the office certificate {path}: {error.strerror}") from None
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        raise SealUnavailable(
            f"the office certificate {path} cannot be opened: not PKCS#12, or the password "
            "(office_certificate_password in the secrets file) is not its password"
        ) from None
    if key is None or certificate is None:
        raise SealUnavailable(f"the office certificate {path} holds no key and certificate")
    moment = now or datetime.now(UTC)
    if certificate.not_valid_after_utc <= moment:
        raise SealUnavailable(
            f"the office certificate {path} expired on "
            f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    if certificate.not_valid_before_utc > moment:
        raise SealUnavailable(
            f"the office certificate {path} is valid only from "
            f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    return OfficeSeal(
        pkcs12=data,
        password=password,
        subject=certificate.subject.rfc4514_string(),
        not_after=certificate.not_valid_after_utc,
        development=development,
        chain=tuple(chain),
    )


def configured_office_seal(
    settings: DocumentSettings, state_dir: Path, secrets_file: Path | None
) -> OfficeSeal:
    """The office's certificate as configured; none configured: the development one under
    the state directory (generated the first time)."""
    if settings.office_certificate is None:
        pki = development_pki(state_dir)
        return load_office_seal(pki.office_pkcs12, pki.office_password, development=True)
    try:
        password = named_secret(
            "office_certificate_password", "PACTE_OFFICE_CERTIFICATE_PASSWORD", secrets_file
        )
    except SecretError as error:
        raise SealUnavailable(str(error)) from None
    return load_office_seal(
        settings.office_certificate, password.encode("utf-8") if password is not None else None
    )


# -- The signature page ----------------------------------------------------------------------

_LABELS: dict[Language, dict[str, str]] = {
    "fr": {
        "heading": "Page de signature",
        "convention": "Convention",
        "text": "Texte approuvé",
        "version": "version",
        "sha256": "Empreinte SHA-256 du texte signé",
        "name": "Nom",
        "capacity": "Qualité",
        "organisation": "Organisation",
        "place": "Lieu",
        "when": "Date et heure (UTC)",
        "proof": "Identité prouvée par",
        "link": "un lien personnel envoyé à son adresse",
        "code": "un code à usage unique",
        "key": "la clé d'API de son organisation",
        "officer": "un agent de l'office, pour son compte",
        "seal": "Ce document est scellé par le certificat de l'office et horodaté (PAdES).",
        "development": "Certificat de développement : ce sceau a été fait avec un certificat "
        "généré sur la machine qui a produit ce document. Il ne prouve rien à quiconque "
        "ne fait pas confiance à cette machine.",
    },
    "en": {
        "heading": "Signature page",
        "convention": "Convention",
        "text": "Approved text",
        "version": "version",
        "sha256": "SHA-256 of the signed text",
        "name": "Name",
        "capacity": "Capacity",
        "organisation": "Organisation",
        "place": "Place",
        "when": "Date and time (UTC)",
        "proof": "Identity proven by",
        "link": "a personal link sent to their address",
        "code": "a one-time code",
        "key": "their organisation's API key",
        "officer": "an officer of the office, on their behalf",
        "seal": "This document is sealed with the office's certificate and timestamped (PAdES).",
        "development": "Development certificate: this seal was made with a certificate "
        "generated on the machine that produced this document. It proves nothing to anyone "
        "who does not trust that machine.",
    },
    "ar": {
        "heading": "صفحة التوقيعات",
        "convention": "الاتفاقية",
        "text": "النص المعتمد",
        "version": "النسخة",
        "sha256": "بصمة SHA-256 للنص الموقّع",
        "name": "الاسم",
        "capacity": "الصفة",
        "organisation": "الهيئة",
        "place": "المكان",
        "when": "التاريخ والوقت (UTC)",
        "proof": "إثبات الهوية عبر",
        "link": "رابط شخصي أُرسل إلى عنوانه",
        "code": "رمز يُستعمل مرة واحدة",
        "key": "مفتاح API الخاص بهيئته",
        "officer": "موظف المكتب نيابةً عنه",
        "seal": "هذه الوثيقة مختومة بشهادة المكتب ومؤرّخة زمنياً (PAdES).",
        "development": "شهادة تطوير: أُنجز هذا الختم بشهادة وُلّدت على الجهاز الذي أنتج هذه "
        "الوثيقة، ولا يُثبت شيئاً لمن لا يثق بهذا الجهاز.",
    },
}

_PAGE_STYLE = """
@page { size: A4; margin: 18mm; }
body { font-family: "DejaVu Sans", "Noto Naskh Arabic", sans-serif; font-size: 9.5pt; }
section { page-break-inside: avoid; margin-bottom: 8mm; }
h1 { font-size: 14pt; margin: 0 0 3mm 0; }
p { margin: 1mm 0; }
table { border-collapse: collapse; width: 100%; margin-top: 3mm; }
th, td { border: 0.5pt solid #888; padding: 1.5mm; text-align: start; vertical-align: top; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; }
.development { border: 1pt solid #a00; color: #a00; padding: 2mm; }
"""


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def signature_page_html(
    text: ApprovedText, signatories: Sequence[Signatory], *, development: bool
) -> str:
    """The signature page as HTML: one section per language of the convention."""
    sections: list[str] = []
    for language in text.languages:
        labels = _LABELS[language]
        direction = "rtl" if language == "ar" else "ltr"
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td><bdi>{escape(value)}</bdi></td>"
                for value in (
                    signatory.name,
                    signatory.capacity,
                    signatory.organisation,
                    signatory.place,
                    _when(signatory.signed_at),
                    labels[signatory.identity_proof],
                )
            )
            + "</tr>"
            for signatory in signatories
        )
        header = "".join(
            f"<th>{labels[key]}</th>"
            for key in ("name", "capacity", "organisation", "place", "when", "proof")
        )
        notice = f'<p class="development">{labels["development"]}</p>' if development else ""
        sections.append(
            f'<section lang="{language}" dir="{direction}">'
            f"<h1>{labels['heading']}</h1>"
            f"<p>{labels['convention']} : <bdi>{escape(text.convention_id)}</bdi></p>"
            f"<p>{labels['text']} : <bdi>{escape(text.title)}</bdi>, "
            f"{labels['version']} {text.version}</p>"
            f'<p>{labels["sha256"]} : <span class="hash" dir="ltr">{text.sha256}</span></p>'
            f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
            f"<p>{labels['seal']}</p>{notice}</section>"
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<style>{_PAGE_STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )


def signature_page_pdf(
    text: ApprovedText, signatories: Sequence[Signatory], *, development: bool
) -> bytes:
    """The signature page laid out by WeasyPrint (Pango shapes the Arabic)."""
    from weasyprint import HTML  # imported here: it loads Pango when imported

    pdf: bytes = HTML(
        string=signature_page_html(text, signatories, development=development)
    ).write_pdf()
    return pdf


def assemble_original(
    text: ApprovedText, signatories: Sequence[Signatory], *, development: bool
) -> bytes:
    """The approved text followed by the signature page, as one unsealed PDF."""
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(text.pdf)))
    writer.append(
        PdfReader(io.BytesIO(signature_page_pdf(text, signatories, development=development)))
    )
    writer.add_metadata(
        {
            "/Title": f"{text.title} — {text.convention_id}, version {text.version}",
            "/Producer": "Pacte",
        }
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# -- The seal --------------------------------------------------------------------------------


async def seal_pdf(
    pdf: bytes, seal: OfficeSeal, tsa_url: str, *, reason: str, location: str | None = None
) -> bytes:
    """The PDF sealed (PAdES B-T, certifying: no change permitted after it) by the office's
    certificate, with a timestamp from the authority at `tsa_url`."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps import HTTPTimeStamper

    try:
        signer = signers.SimpleSigner.load_pkcs12_data(seal.pkcs12, (), passphrase=seal.password)
    except ValueError as error:
        raise SealUnavailable(f"pyHanko cannot load the office certificate: {error}") from None
    metadata = signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=seal.subject,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    pdf_signer = signers.PdfSigner(
        metadata, signer=signer, timestamper=HTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT_SECONDS)
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        sealed = await pdf_signer.async_sign_pdf(writer)
    except OSError as error:
        raise SealingFailed(f"the timestamp authority {tsa_url} did not answer: {error}") from None
    except Exception as error:  # pyHanko's errors (a PDF it cannot sign, a TSA refusal) vary
        raise SealingFailed(f"sealing failed: {type(error).__name__}: {error}") from None
    result: bytes = sealed.getvalue()
    return result


async def seal_original(
    text: ApprovedText,
    signatories: Sequence[Signatory],
    seal: OfficeSeal,
    tsa_url: str,
) -> bytes:
    """The signed original: the text and its signature page, sealed and timestamped."""
    assembled = await asyncio.to_thread(
        assemble_original, text, signatories, development=seal.development
    )
    return await seal_pdf(
        assembled,
        seal,
        tsa_url,
        reason=f"Signed original of convention {text.convention_id}, version {text.version}, "
        f"text sha256 {text.sha256}",
    )


# -- Verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SealCheck:
    """What a validator found: `problems` empty means the seal holds."""

    problems: list[str]
    signer: str | None = None
    timestamp: datetime | None = None
    development: bool = False

    @property
    def ok(self) -> bool:
        """Intact, valid, trusted, covering the whole file, timestamped by a trusted TSA."""
        return not self.problems


def load_trust_roots(paths: Sequence[Path]) -> list[x509.Certificate]:
    """Trust roots from PEM or DER files."""
    roots: list[x509.Certificate] = []
    for path in paths:
        data = path.read_bytes()
        if b"-----BEGIN" in data:
            roots.extend(x509.load_pem_x509_certificates(data))
        else:
            roots.append(x509.load_der_x509_certificate(data))
    return roots


async def verify_sealed(pdf: bytes, trust_roots: Sequence[Path]) -> SealCheck:
    """Validate a sealed original with pyHanko against these roots: every failure named."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.general import SigningError
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko_certvalidator import ValidationContext

    roots = [
        asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))
        for root in load_trust_roots(trust_roots)
    ]
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        signatures = reader.embedded_signatures
    except Exception as error:  # a damaged file fails in the parser, in many ways
        return SealCheck([f"the PDF cannot be read: {type(error).__name__}: {error}"])
    if not signatures:
        return SealCheck(["the PDF carries no seal"])
    problems: list[str] = []
    signature = signatures[-1]
    try:
        status = await async_validate_pdf_signature(
            signature, signer_validation_context=context, ts_validation_context=context
        )
    except (SignatureValidationError, SigningError, ValueError) as error:
        return SealCheck([f"seal {signature.field_name!r} cannot be validated: {error}"])
    name = signature.field_name
    if not status.intact:
        problems.append(
            f"seal {name!r}: the bytes it covers were changed (their digest no longer matches)"
        )
    if not status.valid:
        problems.append(f"seal {name!r}: its cryptographic signature does not verify")
    if not status.trusted:
        problems.append(
            f"seal {name!r}: the certificate {status.signing_cert.subject.human_friendly} "
            f"does not chain to a given trust root ({status.trust_problem_indic})"
        )
    if status.coverage is None or status.coverage.name != "ENTIRE_FILE":
        coverage = status.coverage.name if status.coverage is not None else "unknown"
        problems.append(f"seal {name!r}: the file was changed after sealing ({coverage})")
    if status.docmdp_ok is False:
        problems.append(f"seal {name!r}: changes after sealing break its no-change rule")
    stamp = status.timestamp_validity
    if stamp is None:
        problems.append(f"seal {name!r}: carries no timestamp")
    elif not (stamp.intact and stamp.valid and stamp.trusted):
        problems.append(
            f"seal {name!r}: its timestamp does not verify (intact {stamp.intact}, "
            f"valid {stamp.valid}, trusted {stamp.trusted})"
        )
    subject = status.signing_cert.subject.human_friendly
    return SealCheck(
        problems,
        signer=subject,
        timestamp=stamp.timestamp if stamp is not None else None,
        development=DEVELOPMENT_MARK in subject,
    )
