"""The document routes of the partners' API: what an upload returns, to reference in an
answer (`upload-then-reference`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from schemas.values import DocumentRef

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class StoredDocument(BaseModel):
    """A document Pacte holds for a convention: its hash, size, type and name, who sent it and
    when, and the reference an answer gives to cite it."""

    convention_id: str
    task_id: str | None = Field(default=None, description="The task it was uploaded for, if any.")
    sha256: Sha256 = Field(description="SHA-256 of the bytes, lowercase hex: the document's key.")
    size_bytes: int = Field(ge=0)
    media_type: str = Field(description="Sniffed from the content, never from the name.")
    file_name: str = Field(description="As sent, made safe to keep and show.")
    uploaded_by: str
    uploaded_at: datetime
    reference: DocumentRef = Field(
        description="What to put in an answer's document field (`report`, `document`, an "
        'item of `attachments`…): `{"uri": "archive:documents/<sha256>"}` is enough.'
    )
    download_path: str = Field(description="Where the exact bytes are read back.")


class UnattachedDocument(BaseModel):
    """A document uploaded before the convention is named (`POST /api/v1/documents`): held for
    the uploading party, it joins a convention when that party's answer cites `reference`."""

    sha256: Sha256 = Field(description="SHA-256 of the bytes, lowercase hex: the document's key.")
    size_bytes: int = Field(ge=0)
    media_type: str = Field(description="Sniffed from the content, never from the name.")
    file_name: str = Field(description="As sent, made safe to keep and show.")
    uploaded_by: str
    uploaded_at: datetime
    reference: DocumentRef = Field(
        description="What to put in an answer's document field (`report`, `document`, an "
        'item of `attachments`…) of a convention of your party: `{"uri": '
        '"archive:documents/<sha256>"}` is enough.'
    )
