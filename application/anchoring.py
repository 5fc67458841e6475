"""Anchoring the record on schedule: the head of each convention's milestone chain
timestamped by the configured authority (documents/anchoring.py), once a day and as soon as
the convention ends, by the portal's sweep (portal.py), beside the workflow as sealing is.

A head is anchored once; a convention whose record did not move since its last anchor costs
nothing. Several portal replicas may ask for the same head: the first token kept stands.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.documents import Holder
from documents.anchoring import anchor_convention
from documents.timestamps import TimestampFailed
from schemas.milestones import MilestoneKind
from storage import documents as sql

ENDING_KINDS = [
    MilestoneKind.ENTERED_INTO_FORCE.value,
    MilestoneKind.CONVENTION_COMPLETED.value,
    MilestoneKind.CONVENTION_FAILED.value,
    MilestoneKind.CONVENTION_TERMINATED.value,
]
"""A head of one of these kinds is anchored at the next sweep, not at the next daily round:
the moment a convention enters into force (its signed original is sealed then) or ends."""

ANCHOR_EVERY_HOURS = 24
ANCHOR_LIMIT = 200
"""Tokens asked per sweep (every ten minutes): 28,800 a day at most, the ended ones first."""


@dataclass(frozen=True)
class AnchoringOutcome:
    """What one sweep did: the heads anchored (convention → seq) and the failures."""

    anchored: dict[str, int]
    failed: dict[str, str]


async def anchor_due(ctx: Holder, tsa_url: str, *, limit: int = ANCHOR_LIMIT) -> AnchoringOutcome:
    """Timestamp the heads that are due: conventions that just entered into force or ended,
    then those whose record moved since their last anchor a day or more ago."""
    anchored: dict[str, int] = {}
    failed: dict[str, str] = {}
    due = await sql.heads_due_for_anchoring(
        ctx.pool, ending=ENDING_KINDS, every_hours=ANCHOR_EVERY_HOURS, limit=limit
    )
    for convention_id in due:
        try:
            anchor = await anchor_convention(ctx.pool, convention_id, tsa_url)
        except TimestampFailed as error:
            failed[convention_id] = str(error)
            # The authority is down for one, it is down for the rest: try at the next sweep.
            break
        except LookupError as error:  # the rows vanished meanwhile (purged)
            failed[convention_id] = str(error)
            continue
        anchored[convention_id] = anchor.head_seq
    return AnchoringOutcome(anchored, failed)
