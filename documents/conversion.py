"""A DOCX or ODT text turned into the PDF that is sealed, by LibreOffice headless (Debian's
libreoffice-writer-nogui; dev.py installs it when missing).

Each conversion runs in a temporary directory of its own, with its own LibreOffice profile
(two conversions at once would otherwise fight over one profile's lock), under a fixed input
name (never the uploader's). LibreOffice runs no macro in a headless conversion by default,
and a DOCX or ODT carries none that Pacte accepted (the store keeps no .docm).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from documents.intake import DOCX, ODT, PDF

CONVERSION_TIMEOUT_SECONDS = 180.0
_SUFFIX = {DOCX: ".docx", ODT: ".odt"}


class ConversionFailed(RuntimeError):
    """The text could not be turned into a PDF; the message says why."""


def to_pdf(content: bytes, media_type: str) -> bytes:
    """The document as a PDF: a PDF as it is, a DOCX or ODT converted by LibreOffice."""
    if media_type == PDF:
        return content
    if media_type not in _SUFFIX:
        raise ConversionFailed(f"{media_type} is not a text to seal (PDF, DOCX or ODT)")
    soffice = shutil.which("soffice")
    if soffice is None:
        raise ConversionFailed(
            "LibreOffice is not installed (Debian's libreoffice-writer-nogui; "
            "`python3 dev.py test` installs it)"
        )
    with tempfile.TemporaryDirectory(prefix="pacte-convert-") as work:
        source = Path(work) / f"text{_SUFFIX[media_type]}"
        source.write_bytes(content)
        output = Path(work) / "out"
        try:
            done = subprocess.run(
                [
                    soffice,
                    "--headless",
                    "--norestore",
                    "--nolockcheck",
                    f"-env:UserInstallation={(Path(work) / 'profile').as_uri()}",
                    "--convert-to",
                    "pdf:writer_pdf_Export",
                    "--outdir",
                    str(output),
                    str(source),
                ],
                capture_output=True,
                timeout=CONVERSION_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ConversionFailed(
                f"LibreOffice took over {CONVERSION_TIMEOUT_SECONDS:.0f} s"
            ) from None
        converted = output / "text.pdf"
        if done.returncode != 0 or not converted.exists():
            raise ConversionFailed(
                f"LibreOffice could not convert the {_SUFFIX[media_type]} (exit {done.returncode})"
            )
        return converted.read_bytes()
