"""What Temporal's visibility knows of a convention: its search attributes.

Officers list conventions by stage, kind, party, country, sector and state from Temporal
itself (`starter.py list --stage signature --party psa`), never by scanning workflows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from temporalio import workflow
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

with workflow.unsafe.imports_passed_through():
    from schemas import contract
    from schemas.convention import Convention, Party
    from schemas.status import ConventionState

STAGE = SearchAttributeKey.for_keyword(contract.STAGE_ATTRIBUTE)
KIND = SearchAttributeKey.for_keyword(contract.KIND_ATTRIBUTE)
PARTIES = SearchAttributeKey.for_keyword_list(contract.PARTIES_ATTRIBUTE)
COUNTRIES = SearchAttributeKey.for_keyword_list(contract.COUNTRY_ATTRIBUTE)
SECTOR = SearchAttributeKey.for_keyword(contract.SECTOR_ATTRIBUTE)
STATE = SearchAttributeKey.for_keyword(contract.STATE_ATTRIBUTE)
PARENT = SearchAttributeKey.for_keyword(contract.PARENT_ATTRIBUTE)
NO_STAGE = "none"
KEYWORD_LIST_BUDGET_BYTES = 1_800
"""Temporal refuses a search attribute value over 2,048 bytes, measured on its JSON encoding
with non-ASCII characters escaped (6 bytes each, 12 outside the BMP): a convention with many
parties (50 ids of 80 characters is 4 KB) has only the first ones indexed, and a sector of
200 characters in a wide script is indexed by as much of it as fits."""


def search_attributes_for(
    convention: Convention, stage: str | None, state: ConventionState
) -> TypedSearchAttributes:
    """Every search attribute of a convention, as it starts or as it stands."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(STAGE, stage or NO_STAGE),
        SearchAttributePair(KIND, convention.kind.value),
        # Lower-cased: party ids are unique regardless of case, and searches ignore it.
        SearchAttributePair(
            PARTIES, within_budget(party.id.lower() for party in _office_first(convention))
        ),
        SearchAttributePair(
            COUNTRIES, within_budget(party.country for party in _office_first(convention))
        ),
        SearchAttributePair(STATE, state.value),
    ]
    if convention.sector:
        pairs.append(SearchAttributePair(SECTOR, keyword_within_budget(convention.sector)))
    if convention.parent:
        pairs.append(SearchAttributePair(PARENT, convention.parent))
    return TypedSearchAttributes(pairs)


def _office_first(convention: Convention) -> list[Party]:
    """The training office, then the other parties in the file's order."""
    office = convention.office
    return [office, *(party for party in convention.parties if party is not office)]


def within_budget(values: Iterable[str], budget: int = KEYWORD_LIST_BUDGET_BYTES) -> list[str]:
    """The distinct values, in order, as many as fit in `budget` bytes of JSON: the rest
    are left out of the index (never the whole attribute refused by Temporal)."""
    kept: list[str] = []
    for value in values:
        if value in kept:
            continue
        if _encoded_size([*kept, value]) > budget:
            break
        kept.append(value)
    return kept


def keyword_within_budget(value: str, budget: int = KEYWORD_LIST_BUDGET_BYTES) -> str:
    """As much of a keyword as fits in `budget` bytes of JSON, from its start."""
    kept = value
    while kept and _encoded_size(kept) > budget:
        kept = kept[: len(kept) - max(1, (_encoded_size(kept) - budget) // 12)]
    return kept


def _encoded_size(value: str | list[str]) -> int:
    # As the SDK sends it: JSON with non-ASCII characters escaped.
    return len(json.dumps(value, ensure_ascii=True))


def upsert_progress(stage: str | None, state: ConventionState) -> None:
    """Tell visibility the convention's stage and state changed."""
    updates: list[SearchAttributeUpdate[str]] = [
        STAGE.value_set(stage or NO_STAGE),
        STATE.value_set(state.value),
    ]
    workflow.upsert_search_attributes(updates)
