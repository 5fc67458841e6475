"""The hash chain of a convention's milestones: the rules its writer and its verifiers share.

Each row carries the hash of its predecessor (seq - 1) and its own hash,
sha256(prev_hash || canonical JSON of the milestone's fields), so that an edited, deleted
or inserted row breaks the chain. The ledger's activity (activities/milestones.py) writes
by these rules; `audit.py verify`, the archive and the audit bundle check by them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from schemas.milestones import Milestone

GENESIS_HASH = "0" * 64
"""The predecessor hash of a convention's first milestone (seq 1)."""

CHAINED_FIELDS = (
    "convention_id",
    "seq",
    "kind",
    "stage",
    "task_id",
    "party",
    "actor",
    "occurred_at",
    "summary",
    "details",
)
"""The columns a milestone's hash covers: the milestone itself, not where or when it was stored.

A fixed list rather than the model's fields, so that a field added to Milestone later does
not change the hash of rows written before it.
"""


def _canonical_value(value: Any) -> Any:
    # jsonb keeps numbers as numeric: 2.0 may come back as 2.0 but 1e+20 comes back as an
    # integer. Integral floats become integers on both sides, so the JSON text is the same.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): _canonical_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(item) for item in value]
    return value


def canonical_time(value: datetime | str) -> str:
    """A timestamp as one text for every reader: UTC, ISO 8601, microseconds."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError(f"occurred_at: {value!r} has no time zone")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The chained fields as JSON values, the same whether read from a model, a row or a history."""
    canonical = {name: _canonical_value(fields.get(name)) for name in CHAINED_FIELDS}
    if fields.get("occurred_at") is not None:
        canonical["occurred_at"] = canonical_time(fields["occurred_at"])
    if canonical["details"] is None:
        canonical["details"] = {}
    return canonical


def milestone_fields(milestone: Milestone) -> dict[str, Any]:
    """A milestone as the column values it is stored as (details as JSON values)."""
    dumped = milestone.model_dump(mode="json")
    return {
        **{name: dumped[name] for name in CHAINED_FIELDS},
        "occurred_at": milestone.occurred_at,
    }


def chain_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """sha256(prev_hash || canonical JSON of the milestone's fields), lowercase hex."""
    canonical = json.dumps(
        canonical_fields(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()
