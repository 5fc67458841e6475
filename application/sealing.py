"""The signed original of a convention in force: the approved text (a PDF as uploaded, or its
DOCX/ODT converted by LibreOffice) followed by a signature page in the convention's languages,
sealed by the office's certificate (PAdES) with a timestamp, and kept in the document store
as the convention's document of the task `sealed-original`.

It runs beside the workflow, not in it: the portal's sweep seals it once the last signature is
in (the `entered_into_force` milestone is recorded), or an officer asks for it from the
convention's page. A refusal (no certificate, an expired one, no timestamp authority, a text
Pacte does not hold) is kept as the office's task, listed on /office/tasks with its reason,
and the sweep tries again; once sealed, the task is gone and every signatory is mailed the
PDF. The convention is in force whatever happens here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.service import RPCError

from application.documents import Holder, current_text, store_of
from application.errors import NotFound, Refused
from application.partner import tasks
from application.partner.context import PartnerContext
from application.sealed_mail import mail_sealed_original
from documents.conversion import ConversionFailed, to_pdf
from documents.intake import DOCX, ODT, PDF
from documents.sealing import (
    ApprovedText,
    IdentityProof,
    Language,
    OfficeSeal,
    SealingFailed,
    SealUnavailable,
    Signatory,
    configured_office_seal,
    seal_original,
)
from documents.settings import load_document_settings
from infra.settings import load_settings, secrets_file
from rendering.catalogues import N_
from schemas.convention import Convention
from schemas.errors import DetailCode, coded_detail
from storage import documents as sql
from storage.documents import DocumentRow, SealingFailure

SEALED_TASK = "sealed-original"
"""The task id under which the sealed original is kept (no workflow task has this id)."""

_PROOFS: dict[str, IdentityProof] = {
    "link": "link",
    "link_and_code": "code",
    "api_key": "key",
    "signed_event": "key",
    "officer_on_behalf": "officer",
}


async def in_force(ctx: Holder, convention_id: str) -> bool:
    """Whether the convention's entry into force is recorded (the last signature is in)."""
    return await sql.entered_into_force(ctx.pool, convention_id)


@dataclass(frozen=True)
class SealingState:
    """What the convention's page says of its signed original."""

    in_force: bool
    sealed: DocumentRow | None
    failure: SealingFailure | None = None
    """Why the sweep could not seal it yet (the office's task), while it is not sealed."""


async def sealing_state(ctx: Holder, convention_id: str) -> SealingState:
    """Whether the convention is in force, its sealed original if made, else why not yet."""
    sealed = await sealed_original(ctx, convention_id)
    failure = None if sealed is not None else await sql.sealing_failure(ctx.pool, convention_id)
    return SealingState(await in_force(ctx, convention_id), sealed, failure)


async def unsealed_originals(ctx: Holder, officer_email: str | None) -> list[SealingFailure]:
    """The office's task list's "seal the signed original" entries: conventions in force
    whose original the sweep could not seal, and why (of this officer's, when given)."""
    return await sql.sealing_failures(ctx.pool, officer_email)


async def sealed_original(ctx: Holder, convention_id: str) -> DocumentRow | None:
    """The convention's sealed original, once made (the latest, if sealed again)."""
    rows = [
        row
        for row in await sql.documents_of_convention(ctx.pool, convention_id)
        if row.task_id == SEALED_TASK
    ]
    return rows[-1] if rows else None


def _languages(convention: Convention) -> list[Language]:
    spoken = {convention.officer.language.value} | {
        contact.language.value for party in convention.parties for contact in party.contacts
    }
    ordered: list[Language] = ["fr", "ar", "en"]
    return [language for language in ordered if language in spoken] or ["fr"]


def _signatories(convention: Convention, records: Sequence[Any]) -> list[Signatory]:
    """Each signatory's latest signature, in the file's order of signatories."""
    latest: dict[str, Signatory] = {}
    names = {party.id: party.name for party in convention.parties}
    for record in records:
        details = dict(record["details"] or {})
        signatory_id = details.get("signatory")
        declared = next((s for s in convention.signatories if s.id == signatory_id), None)
        if declared is None:
            continue
        place = details.get("place") or {}
        latest[declared.id] = Signatory(
            name=record["actor"] or declared.name,
            capacity=str(details.get("capacity") or declared.capacity),
            organisation=names.get(declared.party, declared.party),
            place=", ".join(p for p in (place.get("city"), place.get("country")) if p),
            signed_at=datetime.fromisoformat(str(details.get("signed_at"))),
            identity_proof=_PROOFS.get(record["method"] or "", "officer"),
        )
    return [latest[s.id] for s in convention.signatories if s.id in latest]


async def seal_signed_original(
    ctx: PartnerContext,
    convention_id: str,
    uploaded_by: str,
    *,
    seal: OfficeSeal | None = None,
    tsa_url: str | None = None,
) -> DocumentRow:
    """Assemble, seal, timestamp and store the signed original; Refused names what is
    missing (the convention not yet in force, the text not held, no certificate or TSA)."""
    try:
        convention = await tasks.convention(ctx, convention_id)
    except RPCError:
        raise NotFound(f"convention {convention_id!r} is not known") from None
    if not await in_force(ctx, convention_id):
        raise Refused(
            coded_detail(
                DetailCode.NOT_IN_FORCE,
                f"convention {convention_id} is not in force yet: nothing to seal",
                convention=convention_id,
            )
        )
    text = await current_text(ctx, convention_id)
    if text is None or not text.stored or text.sha256 is None:
        held = f" ({text.uri})" if text is not None else ""
        raise Refused(
            coded_detail(
                DetailCode.TEXT_NOT_HELD,
                f"the signed text{held} is not held by Pacte: "
                "upload it as the last version to seal it",
                uri=text.uri if text is not None else "—",
            )
        )
    settings = load_document_settings()
    tsa = tsa_url or settings.tsa_url
    if not tsa:
        raise Refused(N_("no timestamp authority: set PACTE_TSA_URL to seal the signed original"))
    try:
        office_seal = seal or configured_office_seal(
            settings, load_settings().state_dir, secrets_file()
        )
    except SealUnavailable as error:
        raise Refused(
            coded_detail(
                DetailCode.CERTIFICATE_CANNOT_SEAL,
                f"the office certificate cannot seal: {error}",
                error=str(error),
            )
        ) from None
    content = await store_of(ctx).get(text.sha256)
    row = await sql.document_of_convention(ctx.pool, text.sha256, convention_id)
    media_type = row.media_type if row is not None else (text.media_type or "")
    try:
        pdf = (
            content
            if media_type == PDF
            else await asyncio.to_thread(to_pdf, content, media_type)
            if media_type in (DOCX, ODT)
            else None
        )
    except ConversionFailed as error:
        raise Refused(
            coded_detail(
                DetailCode.NOT_CONVERTED,
                f"the signed text cannot be converted to PDF: {error}",
                error=str(error),
            )
        ) from None
    if pdf is None:
        raise Refused(
            coded_detail(
                DetailCode.NOT_SEALABLE_TYPE,
                f"the signed text is {media_type}: only a PDF, DOCX or ODT is sealed",
                media_type=media_type,
            )
        )
    signatures = _signatories(convention, await sql.signatures(ctx.pool, convention_id))
    approved = ApprovedText(
        convention_id=convention_id,
        title=convention.title,
        version=text.version,
        sha256=text.sha256,
        pdf=pdf,
        languages=_languages(convention),
    )
    try:
        sealed = await seal_original(approved, signatures, office_seal, tsa)
    except (SealUnavailable, SealingFailed) as error:
        raise Refused(
            coded_detail(
                DetailCode.NOT_SEALED,
                f"the signed original could not be sealed: {error}",
                error=str(error),
            )
        ) from None
    row = await store_of(ctx).put(
        sealed,
        file_name=f"{convention_id}-signed-original-v{text.version}.pdf",
        uploaded_by=uploaded_by,
        convention_id=convention_id,
        task_id=SEALED_TASK,
    )
    # The office's task "seal the signed original" is done; the signatories get their copy.
    await sql.clear_sealing_failure(ctx.pool, convention_id)
    await mail_sealed_original(ctx.delivery, convention, row, sealed)
    return row


SWEEP_DAYS = 30
"""How long after entry into force the sweep keeps trying to seal (then: the officer's page)."""
SWEEP_LIMIT = 20


async def seal_pending(
    ctx: PartnerContext, *, seal: OfficeSeal | None = None, tsa_url: str | None = None
) -> dict[str, str]:
    """Seal each convention in force (recently) without its sealed original; per convention,
    the sealed PDF's hash or the refusal. What cannot be sealed now (the text not held, no
    certificate) is tried again at the next sweep, and stays an officer's action."""
    outcome: dict[str, str] = {}
    for convention_id in await sql.unsealed_in_force(
        ctx.pool, within_days=SWEEP_DAYS, limit=SWEEP_LIMIT
    ):
        try:
            row = await seal_signed_original(
                ctx, convention_id, "Pacte, at entry into force", seal=seal, tsa_url=tsa_url
            )
        except (Refused, NotFound) as error:
            outcome[convention_id] = f"refused: {error.detail}"
            # The convention stays in force; the refusal is the office's task until sealed.
            await sql.record_sealing_failure(ctx.pool, convention_id, error.detail)
        else:
            outcome[convention_id] = row.sha256
    return outcome
