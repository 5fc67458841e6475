"""The workflow's contract (schemas/contract.py) is what the workflow really declares.

No server: the names are read from the workflow class's Temporal definition and from the
search attribute keys the workflow upserts. The compose file's registration is checked
against the same contract by tests/test_docker_compose.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio import workflow
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

from schemas import contract
from workflows import visibility
from workflows.convention import ConventionWorkflow

KEY_TYPES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def test_the_workflow_declares_the_contracts_type_updates_queries_and_signal() -> None:
    definition = workflow._Definition.must_from_class(ConventionWorkflow)
    assert definition.name == contract.WORKFLOW_TYPE
    assert set(definition.updates) == {
        contract.ANSWER_UPDATE,
        contract.POSTPONE_UPDATE,
        contract.REASSIGN_UPDATE,
        contract.TERMINATE_UPDATE,
        contract.CHANGE_OFFICER_UPDATE,
    }
    assert set(definition.queries) == {contract.STATUS_QUERY, contract.TASK_QUERY}
    assert set(definition.signals) == {contract.LINK_CHILD_SIGNAL}


def test_every_search_attribute_the_workflow_sets_is_in_the_contract_with_its_type() -> None:
    keys: list[SearchAttributeKey[Any]] = [
        visibility.STAGE,
        visibility.KIND,
        visibility.PARTIES,
        visibility.COUNTRIES,
        visibility.SECTOR,
        visibility.STATE,
        visibility.PARENT,
    ]
    declared = {key.name: KEY_TYPES[key.indexed_value_type] for key in keys}
    assert declared == contract.SEARCH_ATTRIBUTES


@pytest.mark.parametrize("convention_id", ["bamako-2024", "mre-academy", "a"])
def test_a_workflow_id_maps_back_to_its_convention(convention_id: str) -> None:
    workflow_id = contract.workflow_id_for(convention_id)
    assert workflow_id.startswith(contract.WORKFLOW_ID_PREFIX)
    assert contract.convention_id_of(workflow_id) == convention_id


@pytest.mark.parametrize("workflow_id", ["archive-sweep", "convention-", "Convention-x"])
def test_another_workflows_id_is_no_convention(workflow_id: str) -> None:
    assert contract.convention_id_of(workflow_id) is None
