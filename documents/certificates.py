"""The development PKI of the embedded stack: a certificate authority that exists only on this
machine, the office's sealing certificate and the local timestamp authority's, generated once
under the state directory (`.pacte/seal/`).

Nothing sealed under them proves anything to anyone but whoever trusts this `ca.pem`: the
signature page says so. A deployment configures the office's real certificate
(PACTE_OFFICE_CERTIFICATE) and a real timestamp authority (PACTE_TSA_URL).

    .pacte/seal/ca.pem             the development CA: the trust root a validator is given
    .pacte/seal/office.p12         the office's key and certificate (PKCS#12)
    .pacte/seal/office.password    its password (random, mode 0600)
    .pacte/seal/tsa.pem, tsa.key   the local timestamp authority's certificate and key
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEVELOPMENT_MARK = "Pacte development"
"""Every development certificate's organisation: a validator's report shows it."""


@dataclass(frozen=True)
class Issued:
    """A key and its certificate."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate


@dataclass(frozen=True)
class DevelopmentPki:
    """Where the development certificates are."""

    directory: Path
    ca_certificate: Path
    office_pkcs12: Path
    office_password: bytes
    tsa_certificate: Path
    tsa_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEVELOPMENT_MARK),
        ]
    )


def new_certificate_authority(common_name: str = "Pacte development CA") -> Issued:
    """A self-signed CA for ten years."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, certificate)


def issue(
    authority: Issued,
    common_name: str,
    *,
    timestamping: bool = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A certificate under the authority: a seal's (signing, non-repudiation) or, with
    `timestamping`, a timestamp authority's (its one extended key usage, critical)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(minutes=5))
        .not_valid_after(not_after or now + timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=not timestamping,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
            critical=False,
        )
    )
    if timestamping:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return Issued(key, builder.sign(authority.key, hashes.SHA256()))


def pkcs12_bytes(issued: Issued, chain: list[x509.Certificate], password: bytes) -> bytes:
    """The key, its certificate and its chain as a password-protected PKCS#12 file."""
    return pkcs12.serialize_key_and_certificates(
        name=b"pacte-office-seal",
        key=issued.key,
        cert=issued.certificate,
        cas=chain,
        encryption_algorithm=serialization.BestAvailableEncryption(password),
    )


def certificate_pem(certificate: x509.Certificate) -> bytes:
    """A certificate as PEM."""
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (the file is mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    # Written beside, then renamed: a reader never sees half a key.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, 0o600)
        os.write(handle, data)
    finally:
        os.close(handle)
    os.replace(temporary, path)


def development_pki(state_dir: Path) -> DevelopmentPki:
    """The development certificates under `state_dir/seal`, generated the first time only."""
    directory = state_dir / "seal"
    pki = DevelopmentPki(
        directory=directory,
        ca_certificate=directory / "ca.pem",
        office_pkcs12=directory / "office.p12",
        office_password=b"",
        tsa_certificate=directory / "tsa.pem",
        tsa_key=directory / "tsa.key",
    )
    password_file = directory / "office.password"
    files = (pki.ca_certificate, pki.office_pkcs12, password_file, pki.tsa_certificate, pki.tsa_key)
    if not all(path.exists() for path in files):
        directory.mkdir(parents=True, exist_ok=True)
        authority = new_certificate_authority()
        office = issue(authority, "Pacte development office seal")
        tsa = issue(authority, "Pacte development timestamp authority", timestamping=True)
        password = secrets.token_urlsafe(24).encode("ascii")
        _write_private(password_file, password)
        _write_private(pki.office_pkcs12, pkcs12_bytes(office, [authority.certificate], password))
        _write_private(pki.tsa_key, key_pem(tsa.key))
        _write_private(pki.tsa_certificate, certificate_pem(tsa.certificate))
        # The CA last: its presence says the set is whole.
        _write_private(pki.ca_certificate, certificate_pem(authority.certificate))
    return DevelopmentPki(
        directory=directory,
        ca_certificate=pki.ca_certificate,
        office_pkcs12=pki.office_pkcs12,
        office_password=password_file.read_bytes(),
        tsa_certificate=pki.tsa_certificate,
        tsa_key=pki.tsa_key,
    )
