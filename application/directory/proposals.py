"""The admin's confirmation page for a file's directory changes (the desk's
`--accept-directory-changes`). A start refused because the file adds or changes people of an
existing organisation keeps the file as it was sent (nothing typed is lost); an admin reads
the differences, computed again from the directory as it is now, and accepts them: one
directory change per difference, recorded as that admin's. The officer then starts the same
file, which no longer differs. Only an admin accepts (`require_admin`)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from application.directory.editors import Editor, require_admin
from application.directory.import_proposal import Difference, accept_differences, propose
from application.errors import InvalidInput, NotFound, Refused
from application.office.starting import read_upload
from infra.database import transaction
from schemas.convention import Convention
from schemas.errors import DetailCode, coded_detail
from storage import directory as store
from storage import directory_desk as desk_store

ACCEPTED_ALREADY = "these changes were accepted already"


@dataclass(frozen=True)
class DifferenceView:
    """One difference as a page says it: where in the file, which organisation, the
    sentence (a catalogue's msgid) and its facts."""

    field: str
    organisation_id: str
    said: str
    facts: dict[str, str]


def difference_views(differences: list[Difference]) -> list[DifferenceView]:
    """The differences as the pages show them, in their reader's language: each fact (a
    name, an address) isolated (U+2068 … U+2069) from the sentence around it."""
    return [
        DifferenceView(
            d.field,
            d.organisation_id,
            d.said,
            {name: f"\u2068{value}\u2069" for name, value in d.facts},
        )
        for d in differences
    ]


@dataclass(frozen=True)
class ProposalView:
    """A kept file's page: what it would change in the directory, and who accepted it."""

    id: str
    convention_id: str
    filename: str
    source: str
    draft_id: str | None
    submitted_by: str
    submitted_at: str
    accepted_by: str | None
    accepted_at: str | None
    differences: list[DifferenceView] = field(default_factory=list)
    new_organisations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def keep_refused_file(
    pool: asyncpg.Pool, editor: Editor, convention: Convention, source: str, filename: str
) -> str:
    """Keep the refused file as it was sent; the id of its confirmation page."""
    return await _keep(pool, editor, convention.id, source, filename, None)


async def _keep(
    pool: asyncpg.Pool,
    editor: Editor,
    convention_id: str,
    source: str,
    filename: str,
    draft_id: str | None,
) -> str:
    proposal_id = f"dp-{secrets.token_hex(8)}"
    await desk_store.insert_proposal(
        pool,
        {
            "id": proposal_id,
            "convention_id": convention_id,
            "source": source,
            "filename": filename,
            "draft_id": draft_id,
            "submitted_by": editor.recorded_as,
        },
    )
    return proposal_id


async def keep_refused_draft(
    pool: asyncpg.Pool, editor: Editor, draft_id: str, document: dict[str, Any]
) -> str:
    """Keep a copy of the refused draft's file (as JSON, what the editor exports); the
    draft itself stays as it is, and the page leads back to it."""
    source = json.dumps(document, ensure_ascii=False, indent=2)
    convention_id = str(document.get("id") or draft_id)
    return await _keep(pool, editor, convention_id, source, f"{draft_id}.json", draft_id)


async def _kept(db: asyncpg.Pool | asyncpg.Connection, proposal_id: str) -> desk_store.Proposal:
    found = await desk_store.proposal(db, proposal_id)
    if found is None:
        raise NotFound(
            coded_detail(
                DetailCode.NO_KEPT_FILE, f"no kept file {proposal_id!r}", proposal=proposal_id
            )
        )
    return found


def _convention(kept: desk_store.Proposal) -> Convention:
    try:
        return read_upload(kept.source.encode("utf-8"), kept.filename)
    except InvalidInput as error:  # pragma: no cover - it was valid when kept
        raise Refused(f"the kept file no longer reads: {error.detail}") from error


async def proposal_view(pool: asyncpg.Pool, proposal_id: str) -> ProposalView:
    """The kept file, with its differences from the directory as it is now."""
    kept = await _kept(pool, proposal_id)
    proposal = await propose(pool, _convention(kept))
    return ProposalView(
        id=kept.id,
        convention_id=kept.convention_id,
        filename=kept.filename,
        source=kept.source,
        draft_id=kept.draft_id,
        submitted_by=kept.submitted_by,
        submitted_at=f"{kept.submitted_at:%Y-%m-%d %H:%M}",
        accepted_by=kept.accepted_by,
        accepted_at=f"{kept.accepted_at:%Y-%m-%d %H:%M}" if kept.accepted_at else None,
        differences=difference_views(proposal.differences),
        new_organisations=[party.id for party in proposal.new_organisations],
        notes=proposal.notes,
    )


async def accept_proposal(pool: asyncpg.Pool, editor: Editor, proposal_id: str) -> int:
    """Make the kept file's differences the directory's, as the admin's changes; how many."""
    require_admin(editor, "accepting a file's directory changes")
    kept = await _kept(pool, proposal_id)
    convention = _convention(kept)
    async with transaction(pool) as connection:
        await store.lock_imports(connection)
        if await desk_store.mark_accepted(connection, kept.id, editor.recorded_as) is None:
            raise Refused(ACCEPTED_ALREADY)
        proposal = await propose(connection, convention)
        await accept_differences(connection, editor, proposal)
    return len(proposal.differences)
