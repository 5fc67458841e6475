"""A DOCX or ODT text becomes the PDF that is sealed, by LibreOffice headless."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from documents.conversion import ConversionFailed, to_pdf
from documents.intake import DOCX, ODT, PDF, active_content, sniff
from tests.document_samples import docx_with_paragraphs, odt_with_paragraphs, pdf_with_text

needs_libreoffice = pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("pdftotext") is None,
    reason="LibreOffice or Poppler is missing: `python3 dev.py test` installs them",
)
PARAGRAPHS = ["Article 1 - Objet", "La formation de 150 stagiaires.", "اتفاقية الشراكة"]


@needs_libreoffice
@pytest.mark.parametrize(
    ("content", "media_type"),
    [(docx_with_paragraphs(PARAGRAPHS), DOCX), (odt_with_paragraphs(PARAGRAPHS), ODT)],
)
def test_a_docx_or_odt_text_becomes_a_pdf_with_the_same_text(
    content: bytes, media_type: str, tmp_path: Path
) -> None:
    pdf = to_pdf(content, media_type)
    assert sniff(pdf) == PDF and active_content(pdf) is None
    path = tmp_path / "converted.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    ).stdout.decode()
    bare = text.replace("\u202a", "").replace("\u202b", "").replace("\u202c", "")
    for paragraph in PARAGRAPHS:
        assert paragraph in bare, paragraph


def test_a_pdf_is_kept_as_it_is_and_other_types_are_not_texts() -> None:
    pdf = pdf_with_text(["x"])
    assert to_pdf(pdf, PDF) is pdf
    with pytest.raises(ConversionFailed, match="image/png is not a text"):
        to_pdf(b"\x89PNG", "image/png")


@needs_libreoffice
def test_a_damaged_docx_is_not_converted() -> None:
    with pytest.raises(ConversionFailed, match="could not convert"):
        to_pdf(b"PK\x03\x04 damaged", DOCX)
