"""What changed between versions: texts extracted from PDF (Poppler), DOCX and ODT, and their
unified diff."""

from __future__ import annotations

import shutil

import pytest

from documents.intake import DOCX, ODT, PDF, TEXT
from documents.text import TextUnavailable, extract_text, text_diff, version_diff
from tests.document_samples import docx_with_paragraphs, odt_with_paragraphs, pdf_with_text

needs_pdftotext = pytest.mark.skipif(
    shutil.which("pdftotext") is None,
    reason="Poppler's pdftotext is missing: `python3 dev.py test` installs poppler-utils",
)

VERSION_1 = [
    "Article 1 - Objet",
    "La presente convention organise la formation de 120 stagiaires.",
    "Article 2 - Duree",
    "Elle est conclue pour deux ans.",
]
VERSION_2 = [
    "Article 1 - Objet",
    "La presente convention organise la formation de 150 stagiaires.",
    "Article 2 - Duree",
    "Elle est conclue pour deux ans.",
    "Article 3 - Suivi",
]


@needs_pdftotext
def test_a_pdfs_text_is_extracted_by_pdftotext() -> None:
    text = extract_text(pdf_with_text(VERSION_1), PDF)
    assert [" ".join(line.split()) for line in text.splitlines() if line.strip()] == VERSION_1


def test_docx_and_odt_paragraphs_are_extracted_in_order() -> None:
    assert extract_text(docx_with_paragraphs(VERSION_1), DOCX).splitlines() == VERSION_1
    assert extract_text(odt_with_paragraphs(VERSION_1), ODT).splitlines() == VERSION_1
    arabic = ["المادة 1", "اتفاقية الشراكة"]
    assert extract_text(docx_with_paragraphs(arabic), DOCX).splitlines() == arabic


@needs_pdftotext
def test_a_docx_version_then_a_pdf_version_shows_what_changed() -> None:
    diff = version_diff(
        (docx_with_paragraphs(VERSION_1), DOCX),
        (pdf_with_text(VERSION_2), PDF),
        before_label="version 1",
        after_label="version 2",
    )
    lines = diff.splitlines()
    assert lines[:2] == ["--- version 1", "+++ version 2"]
    assert "-La presente convention organise la formation de 120 stagiaires." in lines
    assert "+La presente convention organise la formation de 150 stagiaires." in lines
    assert "+Article 3 - Suivi" in lines
    assert not any(line.startswith(("-", "+")) and "Duree" in line for line in lines)


def test_the_same_text_laid_out_differently_has_no_diff() -> None:
    assert text_diff("Article 1\n\n  la   formation\f", "Article 1\nla formation\n") == ""
    assert text_diff("a\nb", "a\nc") != ""


def test_unreadable_documents_say_why() -> None:
    with pytest.raises(TextUnavailable, match=r"word/document\.xml"):
        extract_text(b"PK\x03\x04 broken", DOCX)
    with pytest.raises(TextUnavailable, match="image/png"):
        extract_text(b"\x89PNG", "image/png")
    assert extract_text("déjà".encode(), TEXT) == "déjà"


def test_a_docx_that_inflates_past_the_bound_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("documents.text.XML_PART_MAX_BYTES", 1000)
    bomb = docx_with_paragraphs(["x" * 5000])
    assert len(bomb) < 1000
    with pytest.raises(TextUnavailable, match="inflates past 1000 bytes"):
        extract_text(bomb, DOCX)


@needs_pdftotext
def test_a_damaged_pdf_says_pdftotext_cannot_read_it() -> None:
    with pytest.raises(TextUnavailable, match="pdftotext cannot read"):
        extract_text(b"%PDF-1.7 nothing else", PDF)
