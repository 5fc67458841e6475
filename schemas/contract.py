"""The convention workflow's contract with everything outside it, named once.

Its type, the workflow id of a convention and back, the search attributes Temporal must know
(the embedded dev server registers them, the compose stack's setup job too, and
tests/test_docker_compose.py fails when the compose file differs), and the names of its
updates, queries and signal. Clients, the worker, the archive, the audit and the tests read
these names from here; none of it imports Temporal's workflow machinery.
"""

from __future__ import annotations

from typing import Final, Literal

WORKFLOW_TYPE: Final = "ConventionWorkflow"
WORKFLOW_ID_PREFIX: Final = "convention-"

SearchAttributeType = Literal["Keyword", "KeywordList"]

STAGE_ATTRIBUTE: Final = "ConventionStage"
KIND_ATTRIBUTE: Final = "ConventionKind"
PARTIES_ATTRIBUTE: Final = "ConventionParties"
COUNTRY_ATTRIBUTE: Final = "ConventionCountry"
SECTOR_ATTRIBUTE: Final = "ConventionSector"
STATE_ATTRIBUTE: Final = "ConventionState"
PARENT_ATTRIBUTE: Final = "ConventionParent"

SEARCH_ATTRIBUTES: Final[dict[str, SearchAttributeType]] = {
    STAGE_ATTRIBUTE: "Keyword",
    KIND_ATTRIBUTE: "Keyword",
    PARTIES_ATTRIBUTE: "KeywordList",
    COUNTRY_ATTRIBUTE: "KeywordList",
    SECTOR_ATTRIBUTE: "Keyword",
    STATE_ATTRIBUTE: "Keyword",
    PARENT_ATTRIBUTE: "Keyword",
}
"""Custom search attributes of every convention, by name and Temporal's type."""

ANSWER_UPDATE: Final = "answer_task"
POSTPONE_UPDATE: Final = "postpone_deadline"
REASSIGN_UPDATE: Final = "reassign_task"
TERMINATE_UPDATE: Final = "terminate"
CHANGE_OFFICER_UPDATE: Final = "change_officer"
STATUS_QUERY: Final = "status"
TASK_QUERY: Final = "task"
LINK_CHILD_SIGNAL: Final = "link_child"


def workflow_id_for(convention_id: str) -> str:
    """One workflow per convention: a second start of the same id is refused by Temporal."""
    return f"{WORKFLOW_ID_PREFIX}{convention_id}"


def convention_id_of(workflow_id: str) -> str | None:
    """The convention a workflow id stands for, or None for another workflow's id."""
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return None
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX) or None
