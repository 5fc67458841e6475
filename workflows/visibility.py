"""What Temporal's visibility knows of a convention: its search attributes.

Officers list conventions by stage, kind, party, country, sector and state from Temporal
itself (`starter.py list --stage signature --party psa`), never by scanning workflows.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

with workflow.unsafe.imports_passed_through():
    from schemas.convention import Convention
    from schemas.status import ConventionState

STAGE = SearchAttributeKey.for_keyword("ConventionStage")
KIND = SearchAttributeKey.for_keyword("ConventionKind")
PARTIES = SearchAttributeKey.for_keyword_list("ConventionParties")
COUNTRIES = SearchAttributeKey.for_keyword_list("ConventionCountry")
SECTOR = SearchAttributeKey.for_keyword("ConventionSector")
STATE = SearchAttributeKey.for_keyword("ConventionState")
NO_STAGE = "none"


def workflow_id_for(convention_id: str) -> str:
    """One workflow per convention: a second start of the same id is refused by Temporal."""
    return f"convention-{convention_id}"


def search_attributes_for(
    convention: Convention, stage: str | None, state: ConventionState
) -> TypedSearchAttributes:
    """Every search attribute of a convention, as it starts or as it stands."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(STAGE, stage or NO_STAGE),
        SearchAttributePair(KIND, convention.kind.value),
        # Lower-cased: party ids are unique regardless of case, and searches ignore it.
        SearchAttributePair(PARTIES, sorted({party.id.lower() for party in convention.parties})),
        SearchAttributePair(COUNTRIES, sorted({party.country for party in convention.parties})),
        SearchAttributePair(STATE, state.value),
    ]
    if convention.sector:
        pairs.append(SearchAttributePair(SECTOR, convention.sector))
    return TypedSearchAttributes(pairs)


def upsert_progress(stage: str | None, state: ConventionState) -> None:
    """Tell visibility the convention's stage and state changed."""
    updates: list[SearchAttributeUpdate[str]] = [
        STAGE.value_set(stage or NO_STAGE),
        STATE.value_set(state.value),
    ]
    workflow.upsert_search_attributes(updates)
