"""Documents where the work happens: a file uploaded with an answer (the office's new version
of the text, a mission report, an attachment), the exact bytes downloaded by those who may see
the convention, the drafting rounds and what changed since a reviewer's last version, and the
hash a signatory was shown.

A stored document is referred to in an answer by `archive:documents/<sha256>` (the answer's
`DocumentRef`, its size and type filled from the store's row, never typed): the desks turn that
into a link of their own. A reference to a document the convention does not hold is not found,
whoever asks (another convention's hash discloses nothing).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from application.conventions import answer_task, build_answer, find_task
from application.errors import InvalidInput, NotFound, Refused
from application.partner import tasks
from application.partner.context import PartnerContext
from documents.configured_store import open_document_store
from documents.intake import EXTENSIONS, DocumentRefused, DocumentTooLarge
from documents.settings import load_document_settings
from documents.store import DocumentDamaged, DocumentMissing, DocumentStore
from documents.text import TextUnavailable, version_diff
from infra.settings import secrets_file
from rendering.catalogues import N_
from schemas.actors import Principal
from schemas.errors import DetailCode, FieldError, coded_detail
from schemas.tasks import AnswerReceipt, AnswerTask, Task, TaskKind
from storage import documents as sql
from storage.documents import DocumentRow, DraftingFact

STORED_PREFIX = "archive:documents/"
"""How an answer refers to a document Pacte holds: this prefix, then its SHA-256."""
MAX_FILES_PER_ANSWER = 10
MEDIA_TYPES = tuple(sorted(set(EXTENSIONS.values())))
"""Every type the store keeps (what a download may be)."""
_HASH = re.compile(r"^[0-9a-f]{64}$")

DOCUMENT_FIELDS: dict[TaskKind, str] = {
    TaskKind.REVISE_DRAFT: "document",
    TaskKind.FILE_MISSION_REPORT: "report",
    TaskKind.PROVIDE_INFORMATION: "document",
    TaskKind.REVISE_FUNDING_REQUEST: "terms_of_reference",
    TaskKind.FILE_FINDINGS: "attachments",
    TaskKind.DECIDE_FUNDING: "attachments",
    TaskKind.REPORT_PROGRESS: "attachments",
}
"""Where a file uploaded with an answer of each kind goes: one reference, or a list."""


def _no_document(sha256: str, convention_id: str) -> str:
    return coded_detail(
        DetailCode.NO_DOCUMENT,
        f"no document {sha256} in convention {convention_id!r}",
        sha256=sha256,
        convention=convention_id,
    )


class UploadRefused(InvalidInput):
    """A file the store does not keep (empty, a refused or mismatched type, active content)."""


class UploadTooLarge(UploadRefused):
    """A file over the store's size bound (the web says 413)."""


@dataclass(frozen=True)
class Upload:
    """A file as a desk received it: its bytes and the name its sender gave."""

    content: bytes
    file_name: str | None
    field: str = "file"


@dataclass(frozen=True)
class Download:
    """A stored document's bytes (checked against their hash) and its row."""

    row: DocumentRow
    content: bytes


class Holder(Protocol):
    """What the document use cases need: the database, and the store if one was given."""

    pool: asyncpg.Pool
    documents: DocumentStore | None


@dataclass
class DocumentsAccess:
    """The database and the configured store, for a command line (no desk around)."""

    pool: asyncpg.Pool
    documents: DocumentStore | None = None


def store_of(ctx: Holder) -> DocumentStore:
    """The desk's document store: the one it was built with, else the configured one."""
    if ctx.documents is None:
        ctx.documents = open_document_store(load_document_settings(), ctx.pool, secrets_file())
    return ctx.documents


def upload_limit() -> int:
    """The configured size bound of one document, in bytes."""
    return load_document_settings().max_bytes


def stored_uri(sha256: str) -> str:
    """The reference of a stored document in an answer."""
    return STORED_PREFIX + sha256


def stored_hash(uri: str | None) -> str | None:
    """The SHA-256 a stored document's reference names, or None for any other address."""
    if not uri or not uri.startswith(STORED_PREFIX):
        return None
    sha256 = uri.removeprefix(STORED_PREFIX)
    return sha256 if _HASH.match(sha256) else None


def reference(row: DocumentRow) -> dict[str, Any]:
    """A stored document as an answer's `DocumentRef` (hash, size and type from the row)."""
    return {
        "uri": stored_uri(row.sha256),
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "media_type": row.media_type,
    }


async def upload(
    ctx: Holder,
    convention_id: str,
    task_id: str | None,
    uploaded_by: str,
    item: Upload,
) -> DocumentRow:
    """Check and keep one file for a convention (and task); UploadRefused / UploadTooLarge
    name the field and the reason, and nothing is stored then."""
    try:
        return await store_of(ctx).put(
            item.content,
            file_name=item.file_name,
            uploaded_by=uploaded_by[:200],
            convention_id=convention_id,
            task_id=task_id,
        )
    except DocumentTooLarge as error:
        raise UploadTooLarge(error.reason, [FieldError(item.field, error.reason)]) from None
    except DocumentRefused as error:
        raise UploadRefused(error.reason, [FieldError(item.field, error.reason)]) from None


async def attach(
    ctx: Holder,
    convention_id: str,
    task: Task,
    uploaded_by: str,
    files: list[Upload],
    answer: dict[str, Any],
) -> dict[str, Any]:
    """Store the files sent with an answer and put their references where the task's kind
    keeps documents (`document`, `report`, … or the `attachments` list)."""
    if not files:
        return answer
    field = DOCUMENT_FIELDS.get(task.kind)
    if field is None:
        reason = f"an answer to a {task.kind.value} task takes no file"
        raise UploadRefused(reason, [FieldError(files[0].field, reason)])
    if len(files) > MAX_FILES_PER_ANSWER:
        reason = f"at most {MAX_FILES_PER_ANSWER} files with one answer"
        raise UploadRefused(reason, [FieldError(field, reason)])
    refs = [
        reference(await upload(ctx, convention_id, task.id, uploaded_by, item)) for item in files
    ]
    if field == "attachments":
        return answer | {"attachments": [*answer.get("attachments", []), *refs]}
    if len(refs) > 1:
        reason = "one file only"
        raise UploadRefused(reason, [FieldError(field, reason)])
    return answer | {field: refs[0]}


def _references(value: Any) -> list[dict[str, Any]]:
    """Every document reference (an object with a `uri`) inside an answer's fields."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if isinstance(value.get("uri"), str):
            found.append(value)
        for item in value.values():
            found.extend(_references(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_references(item))
    return found


async def checked_answer(ctx: Holder, convention_id: str, request: AnswerTask) -> AnswerTask:
    """The answer about to be sent, its stored documents checked against the convention (a
    hash it does not hold: NotFound) and described from their rows; a signature given on a
    text that is no longer the one to sign is Refused."""
    data = request.answer.model_dump(mode="json")
    changed = False
    for ref in _references(data):
        sha256 = stored_hash(ref["uri"])
        if sha256 is None:
            continue
        row = await sql.document_of_convention(
            ctx.pool, sha256, convention_id
        ) or await _attach_unattached(
            ctx, sha256, convention_id, request.acting_party, request.task_id
        )
        if row is None:
            raise NotFound(_no_document(sha256, convention_id))
        if ref.get("sha256") not in (None, sha256):
            raise InvalidInput(
                "a stored document's sha256 is its address's",
                [FieldError("answer.sha256", f"must be {sha256}, the stored document's hash")],
            )
        ref.update(reference(row))
        changed = True
    signing = data.get("kind") == TaskKind.SIGN.value and data.get("decision") == "sign"
    shown = data.get("document_sha256") if signing else None
    if signing and not shown:
        # No hash sent (an API caller): the signature is recorded against the text the task
        # shows now, when Pacte holds it, so the record says which text was signed.
        current = await current_text(ctx, convention_id)
        if current is not None and current.sha256:
            data["document_sha256"] = current.sha256
            changed = True
    elif shown:
        current = await current_text(ctx, convention_id)
        if current is None or current.sha256 != shown:
            now = (
                f"version {current.version} (SHA-256 {current.sha256 or 'not known'})"
                if current is not None
                else "no text held by Pacte"
            )
            raise Refused(
                f"document_sha256: the text was changed since it was shown to you ({shown}); "
                f"the text to sign is now {now}: read it and sign again"
            )
    if not changed:
        return request
    return AnswerTask.model_validate(request.model_dump(mode="json") | {"answer": data})


# --- downloads ------------------------------------------------------------------------------


async def _download(ctx: Holder, convention_id: str, sha256: str) -> Download:
    not_found = NotFound(f"no document {sha256} in convention {convention_id!r}")
    if not _HASH.match(sha256):
        raise not_found
    row = await sql.document_of_convention(ctx.pool, sha256, convention_id)
    if row is None:
        raise not_found
    try:
        content = await store_of(ctx).get(sha256)
    except (DocumentMissing, DocumentDamaged) as error:
        # The row says the convention has it, the store cannot give it back intact: the
        # operator's problem (the audit names it), not the reader's; never the wrong bytes.
        raise NotFound(
            coded_detail(
                DetailCode.DOCUMENT_UNREADABLE,
                f"document {sha256} cannot be read back: {error}",
                sha256=sha256,
                error=str(error),
            )
        ) from None
    return Download(row, content)


async def is_party(ctx: PartnerContext, party: str, convention_id: str) -> bool:
    """Whether the party is one of the convention's (an unknown convention: no)."""
    try:
        convention = await tasks.convention(ctx, convention_id)
    except (NotFound, RPCError):
        return False
    return party in {p.id for p in convention.parties}


async def party_download(
    ctx: PartnerContext, party: str, convention_id: str, sha256: str
) -> Download:
    """A document of a convention the party is a party to; NotFound for anything else (an
    unknown convention, another convention's hash, a convention of other parties)."""
    if not await is_party(ctx, party, convention_id):
        raise NotFound(_no_document(sha256, convention_id))
    return await _download(ctx, convention_id, sha256)


async def office_download(ctx: PartnerContext, convention_id: str, sha256: str) -> Download:
    """A document of any convention, for the office."""
    return await _download(ctx, convention_id, sha256)


async def party_upload(
    ctx: PartnerContext,
    party: str,
    uploaded_by: str,
    convention_id: str,
    task_id: str | None,
    item: Upload,
) -> DocumentRow:
    """A partner system's upload, to reference in an answer: for a convention of its party
    (and, when named, one of its party's tasks), else NotFound."""
    if not await is_party(ctx, party, convention_id):
        raise NotFound(
            coded_detail(
                DetailCode.CONVENTION_UNKNOWN,
                f"convention {convention_id!r} is not known",
                convention=convention_id,
            )
        )
    if task_id:
        await tasks.answerable_task(ctx, party, convention_id, task_id)
    return await upload(ctx, convention_id, task_id or None, uploaded_by, item)


UNATTACHED = "~unattached:"
"""The holding key of a partner's convention-free upload (`POST /api/v1/documents`), followed
by its party: no convention id can start with `~`, so no convention ever lists it. The upload
joins a convention when an answer of the same party cites it (`checked_answer`)."""


async def unattached_upload(
    ctx: PartnerContext, party: str, uploaded_by: str, item: Upload
) -> DocumentRow:
    """A partner system's upload before it knows the convention (upload-then-reference): held
    for its party only; another party citing its hash is not found."""
    return await upload(ctx, f"{UNATTACHED}{party}", None, uploaded_by, item)


async def _attach_unattached(
    ctx: Holder, sha256: str, convention_id: str, party: str, task_id: str
) -> DocumentRow | None:
    """The party's convention-free upload of these bytes, now the convention's (and the
    answered task's): its row for the convention, or None when the party has none."""
    held = await sql.document_of_convention(ctx.pool, sha256, f"{UNATTACHED}{party}")
    if held is None:
        return None
    return await sql.insert_document(
        ctx.pool,
        sha256=held.sha256,
        size_bytes=held.size_bytes,
        media_type=held.media_type,
        file_name=held.file_name,
        uploaded_by=held.uploaded_by,
        convention_id=convention_id,
        task_id=task_id,
    )


async def stored_hashes(ctx: Holder, convention_id: str) -> set[str]:
    """The hashes of every document the convention holds (its links are the desk's)."""
    return {row.sha256 for row in await sql.documents_of_convention(ctx.pool, convention_id)}


async def documents_of(ctx: PartnerContext, convention_id: str) -> list[DocumentRow]:
    """Every document uploaded for a convention, oldest first."""
    return await sql.documents_of_convention(ctx.pool, convention_id)


# --- the drafting rounds --------------------------------------------------------------------


@dataclass(frozen=True)
class TextVersion:
    """A version of the text as recorded, and whether Pacte holds its bytes."""

    version: int
    uri: str
    sha256: str | None
    size_bytes: int | None
    media_type: str | None
    stored: bool
    title: str | None = None
    """The document's title as given (the original, when given in several languages)."""
    titles: dict[str, str] = field(default_factory=dict)
    """Its title in each language it was given in (`title: {fr: …, ar: …}`)."""


@dataclass(frozen=True)
class RoundEntry:
    """One voice in the drafting rounds: a review (approve / request changes) or the office's
    revision, on which version, by whom, when, with what comments."""

    version: int | None
    party: str | None
    actor: str | None
    what: str  # approve, request_changes, revised
    comments: str | None
    at: datetime


@dataclass(frozen=True)
class ReviewContext:
    """What the review page shows above the form."""

    versions: list[TextVersion]
    entries: list[RoundEntry]
    last_reviewed: int | None
    changes: list[tuple[str, str]]
    """The unified diff since `last_reviewed`, line by line as (kind, text): kind is one of
    'added', 'removed', 'context', 'hunk'."""
    no_changes_because: str | None
    """Why there is no comparison: a catalogue message (its values in `no_changes_values`)."""
    no_changes_values: dict[str, str] = field(default_factory=dict)

    @property
    def current(self) -> TextVersion | None:
        """The version under review (the latest)."""
        return self.versions[-1] if self.versions else None


def _versions(facts: list[DraftingFact], held: set[str]) -> list[TextVersion]:
    versions: dict[int, TextVersion] = {}
    for fact in facts:
        if fact.kind != "draft_version":
            continue
        document = fact.details.get("document") or {}
        version = int(fact.details.get("version") or len(versions) + 1)
        sha256 = document.get("sha256") or stored_hash(document.get("uri"))
        # A drafting stage run again starts again at version 1: the latest run wins.
        versions[version] = TextVersion(
            version=version,
            uri=str(document.get("uri") or ""),
            sha256=sha256,
            size_bytes=document.get("size_bytes"),
            media_type=document.get("media_type"),
            stored=sha256 is not None and sha256 in held,
            title=document.get("title"),
            titles=dict(document.get("titles") or {}),
        )
    return [versions[key] for key in sorted(versions)]


def _entries(facts: list[DraftingFact]) -> list[RoundEntry]:
    entries: list[RoundEntry] = []
    version: int | None = None
    for fact in facts:
        if fact.kind == "draft_version":
            version = fact.details.get("version")
            continue
        answer = fact.details.get("answer") or {}
        if answer.get("kind") == "review_draft":
            entries.append(
                RoundEntry(
                    version=answer.get("version"),
                    party=fact.party,
                    actor=fact.actor,
                    what=str(answer.get("decision")),
                    comments=answer.get("comments"),
                    at=fact.occurred_at,
                )
            )
        elif answer.get("kind") == "revise_draft":
            entries.append(
                RoundEntry(
                    version=(version or 0) + 1,
                    party=fact.party,
                    actor=fact.actor,
                    what="revised",
                    comments=answer.get("comments"),
                    at=fact.occurred_at,
                )
            )
    return entries


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append(("hunk", line))
        elif line.startswith("+"):
            lines.append(("added", line[1:]))
        elif line.startswith("-"):
            lines.append(("removed", line[1:]))
        else:
            lines.append(("context", line[1:]))
    return lines


async def _media_type(ctx: Holder, convention_id: str, version: TextVersion) -> str:
    """A version's type: as its reference says, else as the stored row says (a convention
    file citing a stored text by its address and hash alone carries no type)."""
    if version.media_type:
        return version.media_type
    row = (
        await sql.document_of_convention(ctx.pool, version.sha256, convention_id)
        if version.sha256
        else None
    )
    return row.media_type if row is not None else ""


async def current_text(ctx: Holder, convention_id: str) -> TextVersion | None:
    """The latest recorded version of the text (the one reviewed, approved and signed)."""
    facts = await sql.drafting_facts(ctx.pool, convention_id)
    versions = _versions(facts, await stored_hashes(ctx, convention_id))
    return versions[-1] if versions else None


async def review_context(
    ctx: PartnerContext, convention_id: str, party: str | None
) -> ReviewContext:
    """The versions, the rounds' comments and the office's answers, and for `party` what
    changed since the version it last reviewed (when Pacte holds both texts)."""
    facts = await sql.drafting_facts(ctx.pool, convention_id)
    versions = _versions(facts, await stored_hashes(ctx, convention_id))
    entries = _entries(facts)
    current = versions[-1] if versions else None
    reviewed = [
        e.version
        for e in entries
        if e.party == party and e.what != "revised" and e.version is not None
    ]
    last = max((v for v in reviewed if current is None or v < current.version), default=None)
    changes: list[tuple[str, str]] = []
    because: str | None = None
    values: dict[str, str] = {}
    if current is not None and last is not None:
        before = next((v for v in versions if v.version == last), None)
        missing = [v for v in (before, current) if v is None or not v.stored]
        if before is None:
            because, values = N_("version %(version)s is not recorded"), {"version": str(last)}
        elif missing:
            unheld = missing[0]
            assert unheld is not None
            because = N_("version %(version)s is not held by Pacte (%(uri)s)")
            values = {"version": str(unheld.version), "uri": unheld.uri}
        else:
            assert before is not None and before.sha256 and current.sha256
            try:
                old = await store_of(ctx).get(before.sha256)
                new = await store_of(ctx).get(current.sha256)
                diff = await asyncio.to_thread(
                    version_diff,
                    (old, await _media_type(ctx, convention_id, before)),
                    (new, await _media_type(ctx, convention_id, current)),
                    before_label=f"version {before.version}",
                    after_label=f"version {current.version}",
                )
            except TextUnavailable as error:
                because, values = text_unavailable(error)
            except (DocumentMissing, DocumentDamaged) as error:
                because = N_("the stored document cannot be read back: %(detail)s")
                values = {"detail": str(error)}
            else:
                changes = _diff_lines(diff)
                if not changes:
                    because = N_("the text did not change")
    return ReviewContext(versions, entries, last, changes, because, values)


NO_TEXT: dict[str, str] = {
    "not_extracted": N_("the text cannot be extracted: no text is read from %(media_type)s files"),
    "no_pdftotext": N_("the text cannot be extracted: the server has no PDF reader installed"),
    "pdftotext_timeout": N_("the text cannot be extracted: reading this PDF took too long"),
    "pdftotext_failed": N_(
        "the text cannot be extracted: this PDF cannot be read (error %(exit)s)"
    ),
    "part_too_large": N_(
        "the text cannot be extracted: %(part)s grows past %(limit)s bytes once unpacked"
    ),
    "part_unreadable": N_(
        "the text cannot be extracted: the document has no readable %(part)s (%(error)s)"
    ),
    "part_not_xml": N_("the text cannot be extracted: %(part)s is not well-formed XML (%(error)s)"),
}
"""Why a version's text cannot be extracted (documents.text.TextUnavailable's codes), as the
review page says it; what a library answered (`error`) is quoted as it said it."""


def text_unavailable(error: TextUnavailable) -> tuple[str, dict[str, str]]:
    """The review page's "no comparison" message and its values for an extraction that
    failed: by its code, else its English text as recorded."""
    message = NO_TEXT.get(error.code)
    if message is None:
        return N_("the text cannot be extracted (as recorded): %(detail)s"), {"detail": str(error)}
    return message, dict(error.values)


async def answer_with_file(
    pool: asyncpg.Pool,
    client: Client,
    convention_id: str,
    task_id: str,
    acting_party: str,
    fields: dict[str, Any],
    item: Upload,
    *,
    actor: str | None,
    principal: Principal,
    rpc_timeout: timedelta | None = None,
) -> AnswerReceipt:
    """The command line's `act … --file PATH`: the file stored for the task, its reference
    put where the task's kind keeps documents, the answer validated and sent."""
    holder = DocumentsAccess(pool)
    task = await find_task(client, convention_id, task_id, rpc_timeout=rpc_timeout)
    fields = await attach(
        holder, convention_id, task, principal.name or principal.id, [item], fields
    )
    request = build_answer(task, acting_party, fields, actor, principal)
    request = await checked_answer(holder, convention_id, request)
    return await answer_task(client, convention_id, request, rpc_timeout=rpc_timeout)
