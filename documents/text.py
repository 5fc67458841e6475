"""What changed between two versions of a text: each version's extracted text, then a unified
diff of the two, line by line.

- PDF: Poppler's `pdftotext -layout` (Debian's poppler-utils; dev.py installs it), fed on
  stdin, so no temporary file holds the document.
- DOCX and ODT: their paragraphs read from the document's own XML (`word/document.xml`,
  `content.xml`) with lxml, which Pacte already depends on. No DOCX or ODT library is installed
  (python-docx, odfpy), and LibreOffice headless costs seconds per conversion and a few hundred
  MB of packages; the text of a paragraph is plainly in the XML (deleted revisions, `w:delText`,
  are left out, as a reader does not show them). LibreOffice is still what turns a DOCX or ODT
  into the PDF that is sealed (documents/sealing.py takes a PDF).
- Plain text: as it is (UTF-8).
"""

from __future__ import annotations

import difflib
import io
import shutil
import subprocess
import zipfile
from collections.abc import Iterator

from lxml import etree

from documents.intake import DOCX, ODT, PDF, TEXT

PDFTOTEXT_TIMEOUT_SECONDS = 60.0
XML_PART_MAX_BYTES = 64 * 1024 * 1024
"""A ZIP inflates: a 25 MB DOCX could hold gigabytes of XML (a zip bomb); past this, refused."""
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_TEXT_NS = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class TextUnavailable(RuntimeError):
    """The text of this document cannot be extracted here; the message says why in English,
    `code` and `values` say it as facts (the review page says them in its reader's language,
    application/documents.py)."""

    def __init__(self, code: str, message: str, **values: str) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


def extract_text(content: bytes, media_type: str) -> str:
    """The document's text, one paragraph (or PDF line) per line."""
    if media_type == PDF:
        return pdf_text(content)
    if media_type == DOCX:
        return "\n".join(_docx_paragraphs(content))
    if media_type == ODT:
        return "\n".join(_odt_paragraphs(content))
    if media_type == TEXT:
        return content.decode("utf-8")
    raise TextUnavailable(
        "not_extracted",
        f"no text is extracted from {media_type} documents",
        media_type=media_type,
    )


def pdf_text(content: bytes) -> str:
    """A PDF's text as Poppler's pdftotext lays it out (-layout), pages separated by \\f."""
    binary = shutil.which("pdftotext")
    if binary is None:
        raise TextUnavailable(
            "no_pdftotext",
            "pdftotext is not installed (Debian's poppler-utils; "
            "`python3 dev.py test` installs it)",
        )
    try:
        done = subprocess.run(
            [binary, "-layout", "-enc", "UTF-8", "-q", "-", "-"],
            input=content,
            capture_output=True,
            timeout=PDFTOTEXT_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TextUnavailable("pdftotext_timeout", "pdftotext took too long on this PDF") from None
    if done.returncode != 0:
        raise TextUnavailable(
            "pdftotext_failed",
            f"pdftotext cannot read this PDF (exit {done.returncode})",
            exit=str(done.returncode),
        )
    return done.stdout.decode("utf-8", "replace")


def _xml_part(content: bytes, name: str) -> etree._Element:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if archive.getinfo(name).file_size > XML_PART_MAX_BYTES:
                raise TextUnavailable(
                    "part_too_large",
                    f"{name} inflates past {XML_PART_MAX_BYTES} bytes",
                    part=name,
                    limit=str(XML_PART_MAX_BYTES),
                )
            data = archive.read(name)
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        raise TextUnavailable(
            "part_unreadable",
            f"the document has no readable {name}: {error}",
            part=name,
            error=str(error),
        ) from None
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as error:
        raise TextUnavailable(
            "part_not_xml",
            f"{name} is not well-formed XML: {error}",
            part=name,
            error=str(error),
        ) from None


def _docx_paragraphs(content: bytes) -> Iterator[str]:
    root = _xml_part(content, "word/document.xml")
    for paragraph in root.iter(f"{_W}p"):
        parts: list[str] = []
        for node in paragraph.iter(f"{_W}t", f"{_W}tab", f"{_W}br"):
            if node.tag == f"{_W}t":
                parts.append(node.text or "")
            else:
                parts.append("\t" if node.tag == f"{_W}tab" else "\n")
        yield "".join(parts)


def _odt_paragraphs(content: bytes) -> Iterator[str]:
    root = _xml_part(content, "content.xml")
    for paragraph in root.iter(f"{_TEXT_NS}p", f"{_TEXT_NS}h"):
        yield _odt_text(paragraph)


def _odt_text(node: etree._Element) -> str:
    parts = [node.text or ""]
    for child in node:
        if child.tag == f"{_TEXT_NS}s":
            parts.append(" " * int(child.get(f"{_TEXT_NS}c", "1")))
        elif child.tag == f"{_TEXT_NS}tab":
            parts.append("\t")
        elif child.tag == f"{_TEXT_NS}line-break":
            parts.append("\n")
        elif child.tag not in (f"{_TEXT_NS}note", f"{_TEXT_NS}p", f"{_TEXT_NS}h"):
            parts.append(_odt_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _normalised_lines(text: str) -> list[str]:
    # Layout whitespace (pdftotext's columns, a page break) is not a change of the text.
    lines = [" ".join(line.split()) for line in text.replace("\f", "\n").splitlines()]
    return [line for line in lines if line]


def text_diff(
    before: str,
    after: str,
    *,
    before_label: str = "before",
    after_label: str = "after",
    context: int = 3,
) -> str:
    """A unified diff of two texts, blank lines and layout spacing ignored; '' when the text
    did not change."""
    return "\n".join(
        difflib.unified_diff(
            _normalised_lines(before),
            _normalised_lines(after),
            fromfile=before_label,
            tofile=after_label,
            n=context,
            lineterm="",
        )
    )


def version_diff(
    before: tuple[bytes, str],
    after: tuple[bytes, str],
    *,
    before_label: str = "before",
    after_label: str = "after",
) -> str:
    """What changed between two versions given as (content, media type): a DOCX against the
    PDF that follows it compares their texts."""
    return text_diff(
        extract_text(*before),
        extract_text(*after),
        before_label=before_label,
        after_label=after_label,
    )
