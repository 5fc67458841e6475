"""What the store accepts: a size bound, a type sniffed from the content, a PDF without active
content, a file name made safe to keep and show.

Every refusal is a DocumentRefused naming the reason; nothing is stored before all the checks
pass. Types are sniffed from the bytes, never taken from the name or the browser's
Content-Type: a name only has to agree with what the bytes are.

Why a PDF with JavaScript, an embedded file or a launch action is refused rather than stored
and served as an attachment only: the text of a convention is what its signatories sign and
what Pacte seals and mails. JavaScript can change what a reader shows (a signatory would not
have seen what is sealed), an embedded file carries a second document nobody reviewed, and a
copy mailed or downloaded runs in the partner's PDF reader, outside any protection a browser's
`Content-Disposition: attachment` gives. PDF/A (the archival profile) forbids the same things.
An office that meets the refusal prints the document to PDF again, which drops them.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
FILE_NAME_MAX_CHARS = 200

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
PNG = "image/png"
JPEG = "image/jpeg"
TEXT = "text/plain"

EXTENSIONS: dict[str, str] = {
    ".pdf": PDF,
    ".docx": DOCX,
    ".xlsx": XLSX,
    ".odt": ODT,
    ".ods": ODS,
    ".png": PNG,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".txt": TEXT,
    ".csv": TEXT,
}
"""The types the store keeps, by the extensions that name them."""


class DocumentRefused(ValueError):
    """A file the store does not keep; `reason` is one line for whoever uploaded it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DocumentTooLarge(DocumentRefused):
    """Over the configured size bound (the web says 413)."""


class DocumentTypeRefused(DocumentRefused):
    """Not a type the store keeps, or not what its name says (an executable named .pdf)."""


class ActiveContentRefused(DocumentRefused):
    """A PDF carrying JavaScript, an embedded file or an action that runs something."""


@dataclass(frozen=True)
class AcceptedDocument:
    """Bytes that passed every check, with the type they were found to be and a safe name."""

    content: bytes
    media_type: str
    file_name: str


_EXECUTABLE_MAGIC = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"\xce\xfa\xed\xfe", "a macOS executable"),
    (b"\xca\xfe\xba\xbe", "a macOS or Java executable"),
    (b"#!", "a script"),
)
_MARKUP = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?<(?:!doctype\s+html|html|head|body|script|svg|iframe|!--)",
    re.IGNORECASE,
)


def sniff(content: bytes) -> str:
    """The content's media type, from its bytes; DocumentTypeRefused when the store keeps none
    of its kind (executables, HTML, SVG and anything unknown)."""
    head = content[:1024]
    for magic, what in _EXECUTABLE_MAGIC:
        if head.startswith(magic):
            raise DocumentTypeRefused(f"the file is {what}, not a document")
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(content)
    if _MARKUP.match(head.lstrip(b"\xef\xbb\xbf")):
        raise DocumentTypeRefused("the file is HTML or SVG (a web page), not a document")
    if b"\x00" not in content:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return TEXT
    raise DocumentTypeRefused(
        "the file is of a type the store does not keep "
        "(PDF, DOCX, ODT, XLSX, ODS, PNG, JPEG or plain text)"
    )


def _sniff_zip(content: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                declared = archive.read("mimetype").decode("ascii", "replace").strip()
                if declared in (ODT, ODS):
                    return declared
            if "[Content_Types].xml" in names:
                if "word/document.xml" in names:
                    return DOCX
                if "xl/workbook.xml" in names:
                    return XLSX
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        raise DocumentTypeRefused("the file is a damaged ZIP archive") from None
    raise DocumentTypeRefused("the file is a ZIP archive, not a DOCX, ODT, XLSX or ODS document")


_ACTIVE_KEYS = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/EmbeddedFile": "an embedded file",
    "/EmbeddedFiles": "an embedded file",
    "/RichMedia": "rich media (Flash or video)",
    "/XFA": "an XFA form (scripted)",
}
_ACTIVE_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "an action that launches a program",
    "/ImportData": "an action that imports data",
    "/SubmitForm": "an action that submits a form",
}
# The long names only: a three-byte "/JS" turns up by chance in compressed streams.
_RAW_ACTIVE = re.compile(rb"/JavaScript|/EmbeddedFile")


def active_content(content: bytes) -> str | None:
    """What active content a PDF carries (JavaScript, an embedded file, a launch action …),
    or None. Every object reachable from the trailer is read, inside object streams too.

    Raises DocumentTypeRefused for a PDF that cannot be read or is encrypted: what cannot be
    inspected cannot be kept, nor sealed.
    """
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise DocumentTypeRefused("the PDF is encrypted: it cannot be inspected nor sealed")
        found = _walk(reader.trailer)
    except DocumentTypeRefused:
        raise
    except Exception:  # pypdf raises many kinds on a damaged file
        raise DocumentTypeRefused("the PDF cannot be read (damaged or not a PDF)") from None
    if found is None and _RAW_ACTIVE.search(content):
        # A name the parser did not reach (an object not linked from the trailer): readers
        # that repair files may still find it.
        found = "JavaScript or an embedded file in an unlinked object"
    return found


def _walk(root: PdfObject) -> str | None:
    seen: set[tuple[int, int]] = set()
    pending: list[PdfObject] = [root]
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            resolved = item.get_object()
            if resolved is None:
                continue
            item = resolved
        if isinstance(item, DictionaryObject):
            for key_name, value in item.items():
                if key_name in _ACTIVE_KEYS:
                    return _ACTIVE_KEYS[key_name]
                if key_name == "/S" and isinstance(value, NameObject) and value in _ACTIVE_ACTIONS:
                    return _ACTIVE_ACTIONS[value]
                if key_name == "/Type" and value == "/Filespec" and "/EF" in item:
                    return "an embedded file"
                if key_name != "/Parent":
                    pending.append(value)
        elif isinstance(item, ArrayObject):
            pending.extend(item)
    return None


_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def sanitise_file_name(raw: str | None, media_type: str) -> str:
    """A file name safe to keep and to show: its last path component, without control or
    formatting characters (right-to-left overrides, zero-width marks), no leading dots,
    at most FILE_NAME_MAX_CHARS characters with the extension kept; never empty."""
    text = unicodedata.normalize("NFC", raw or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(
        " " if unicodedata.category(char) in _UNSAFE_CATEGORIES or char.isspace() else char
        for char in text
    )
    text = re.sub(r"\s+", " ", text).strip().lstrip(". ").rstrip(". ")
    if not text:
        text = "document" + _extension_for(media_type)
    if len(text) > FILE_NAME_MAX_CHARS:
        suffix = PurePosixPath(text).suffix
        if len(suffix) > 10:
            suffix = ""
        text = text[: FILE_NAME_MAX_CHARS - len(suffix)].rstrip(". ") + suffix
    return text


def _extension_for(media_type: str) -> str:
    return next((ext for ext, kind in EXTENSIONS.items() if kind == media_type), "")


def accept(content: bytes, file_name: str | None, *, max_bytes: int) -> AcceptedDocument:
    """Check a file before anything is stored: its size, its type (from the content, agreeing
    with its name's extension), a PDF's active content; its name made safe."""
    if len(content) > max_bytes:
        raise DocumentTooLarge(
            f"the file is {len(content)} bytes; the store keeps at most {max_bytes} bytes"
        )
    if not content:
        raise DocumentTypeRefused("the file is empty")
    media_type = sniff(content)
    name = sanitise_file_name(file_name, media_type)
    claimed = EXTENSIONS.get(PurePosixPath(name.lower()).suffix)
    if claimed is not None and claimed != media_type and not _compatible(claimed, media_type):
        raise DocumentTypeRefused(
            f"the file is named {PurePosixPath(name).suffix} but its content is {media_type}"
        )
    if media_type == PDF:
        found = active_content(content)
        if found is not None:
            raise ActiveContentRefused(
                f"the PDF carries {found}; Pacte keeps no active content in a document that "
                "is reviewed, signed and sealed (print it to PDF again to drop it)"
            )
    return AcceptedDocument(content=content, media_type=media_type, file_name=name)


def _compatible(claimed: str, found: str) -> bool:
    # A CSV is plain text, as is a .txt.
    return claimed == TEXT and found == TEXT
