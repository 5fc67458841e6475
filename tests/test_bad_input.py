"""Bad input is refused with the field and the reason, and leaves nothing behind.

Convention files are refused before anything starts (by load_convention and by `starter.py
start`); answers are refused by the client (build_answer) or by the workflow's update
validator, and a refused answer changes neither the workflow, nor PostgreSQL, nor the
workflow's history.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from application.conventions import (
    ConventionAlreadyStarted,
    answer_open_task,
    answer_task,
    build_answer,
    find_task,
    start_convention,
)
from application.errors import Refused
from schemas.convention import Convention
from schemas.convention_file import load_convention
from schemas.errors import FieldError, InputError
from schemas.milestones import MilestoneKind
from schemas.status import ConventionState, ConventionStatus
from schemas.tasks import AnswerTask, ReviewAnswer, SignAnswer, Task
from tests.cli_runner import (
    CliRun,
    cli_env,
    run_cli,
    settled_status,
    status_when,
    stored_milestone_count,
    workflow_exists,
    write_convention,
    write_document,
)
from tests.conftest import DEV_TASK_QUEUE, example
from workflows.convention import workflow_id_for

# --- convention files --------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class BadFile:
    """A seed example spoiled in one way, and the one error it must be refused with."""

    name: str
    example: str
    mutate: Mutation
    field: str
    reason_mentions: tuple[str, ...]
    suffix: str = ".yaml"


def _unknown_stage(data: dict[str, Any]) -> None:
    assert data["stages"][1]["stage"] == "signature"
    data["stages"][1]["stage"] = "negotiation"


def _undeclared_signatory(data: dict[str, Any]) -> None:
    data["stages"][1]["signatories"].append("x")  # the sixth: stages.1.signatories.5


def _signatory_of_an_unknown_party(data: dict[str, Any]) -> None:
    assert data["signatories"][3]["id"] == "psa-dg"
    data["signatories"][3]["party"] = "renault-maroc"


def _duplicated_party(data: dict[str, Any]) -> None:
    data["parties"].append({**data["parties"][3], "name": "Groupe PSA (deuxième fois)"})


def _no_training_office(data: dict[str, Any]) -> None:
    assert data["parties"][0]["kind"] == "training_office"
    data["parties"][0]["kind"] = "agency"


def _mission_ending_before_it_starts(data: dict[str, Any]) -> None:
    mission = data["stages"][2]
    assert mission["stage"] == "mission"
    mission["starts_on"], mission["ends_on"] = "2021-02-08", "2021-02-01"


def _negative_amount(data: dict[str, Any]) -> None:
    funding = data["stages"][2]
    assert funding["stage"] == "funding_request"
    funding["requested"]["amount"] = -40000000


def _no_title(data: dict[str, Any]) -> None:
    del data["title"]


BAD_CONVENTIONS = [
    BadFile(
        "unknown-stage",
        "tanger-four-conventions",
        _unknown_stage,
        "stages.1",
        (
            "'negotiation'",
            "'drafting'",
            "'signature'",
            "'mission'",
            "'diagnostic'",
            "'funding_request'",
            "'implementation'",
        ),
    ),
    BadFile(
        "undeclared-signatory",
        "tanger-four-conventions",
        _undeclared_signatory,
        "stages.1.signatories.5",
        ("unknown signatory 'x'",),
    ),
    BadFile(
        "signatory-of-an-unknown-party",
        "tanger-four-conventions",
        _signatory_of_an_unknown_party,
        "signatories.3.party",
        ("unknown party 'renault-maroc'",),
        suffix=".json",
    ),
    BadFile(
        "duplicated-party-id",
        "tanger-four-conventions",
        _duplicated_party,
        "parties",
        ("'psa' appears twice",),
    ),
    BadFile(
        "no-training-office",
        "tanger-four-conventions",
        _no_training_office,
        "parties",
        ("exactly one party of kind 'training_office'", "found 0"),
    ),
    BadFile(
        "mission-ending-before-it-starts",
        "mre-academy",
        _mission_ending_before_it_starts,
        "stages.2.ends_on",
        ("starts_on",),
    ),
    BadFile(
        "negative-amount",
        "bamako-cooperation",
        _negative_amount,
        "stages.2.requested.amount",
        ("greater than or equal to 0",),
        suffix=".json",
    ),
    BadFile("missing-title", "tanger-four-conventions", _no_title, "title", ("Field required",)),
]


@dataclass(frozen=True)
class MalformedFile:
    """A file that is not even YAML or JSON, and where its syntax breaks."""

    name: str
    suffix: str
    text: str
    position: str


MALFORMED_FILES = [
    MalformedFile(
        "malformed-yaml",
        ".yaml",
        "id: {id}\ntitle: [unclosed\nkind: framework\n",
        "line 2, column 8",
    ),
    MalformedFile(
        "malformed-json",
        ".json",
        '{{\n  "id": "{id}",\n  "title": "t",,\n  "kind": "framework"\n}}\n',
        "line 3, column 16",
    ),
]


@dataclass(frozen=True)
class WrittenFile:
    """A refused file on disk, and the convention id it would have started."""

    path: Path
    convention_id: str


def write_bad_file(case: BadFile, directory: Path) -> WrittenFile:
    data = example(case.example).model_dump(mode="json")
    case.mutate(data)
    path = write_document(data, directory / f"{case.name}{case.suffix}")
    return WrittenFile(path, data["id"])


def write_malformed_file(case: MalformedFile, directory: Path) -> WrittenFile:
    convention_id = f"{case.name}-{uuid.uuid4().hex[:8]}"
    path = directory / f"{case.name}{case.suffix}"
    path.write_text(case.text.format(id=convention_id), encoding="utf-8")
    return WrittenFile(path, convention_id)


@pytest.fixture(scope="module")
def refused_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, WrittenFile]:
    directory = tmp_path_factory.mktemp("refused-files")
    written = {case.name: write_bad_file(case, directory) for case in BAD_CONVENTIONS}
    written.update({case.name: write_malformed_file(case, directory) for case in MALFORMED_FILES})
    return written


@pytest_asyncio.fixture(scope="module")
async def refused_starts(
    refused_files: dict[str, WrittenFile], dev_env: WorkflowEnvironment, postgres_url: str
) -> AsyncIterator[dict[str, CliRun]]:
    """`starter.py start FILE` for every refused file, all at once (each is a fresh process)."""
    env = cli_env(dev_env, postgres_url)
    names = list(refused_files)
    runs = await asyncio.gather(
        *(run_cli("start", str(refused_files[name].path), env=env) for name in names)
    )
    yield dict(zip(names, runs, strict=True))


@pytest.mark.parametrize("case", MALFORMED_FILES, ids=lambda case: case.name)
def test_malformed_file_is_refused_with_the_line_and_column_of_the_syntax_error(
    case: MalformedFile, refused_files: dict[str, WrittenFile]
) -> None:
    written = refused_files[case.name]

    with pytest.raises(InputError) as refused:
        load_convention(written.path)

    assert refused.value.source == str(written.path)
    [problem] = refused.value.errors
    assert problem.field == ""
    assert case.position in problem.reason
    assert ("YAML" if case.suffix == ".yaml" else "JSON") in problem.reason


@pytest.mark.parametrize("case", BAD_CONVENTIONS, ids=lambda case: case.name)
def test_invalid_convention_is_refused_naming_the_field_path_and_the_reason(
    case: BadFile, refused_files: dict[str, WrittenFile]
) -> None:
    written = refused_files[case.name]

    with pytest.raises(InputError) as refused:
        load_convention(written.path)

    assert refused.value.source == str(written.path)
    assert [problem.field for problem in refused.value.errors] == [case.field], refused.value.errors
    [problem] = refused.value.errors
    for mention in case.reason_mentions:
        assert mention in problem.reason, problem


def test_a_stage_naming_an_undeclared_signatory_is_refused_with_its_exact_path(
    refused_files: dict[str, WrittenFile],
) -> None:
    with pytest.raises(InputError) as refused:
        load_convention(refused_files["undeclared-signatory"].path)

    assert [f"{problem.field}: {problem.reason}" for problem in refused.value.errors] == [
        "stages.1.signatories.5: unknown signatory 'x'"
    ]


EXPECTED_ON_STDERR: dict[str, tuple[str, tuple[str, ...]]] = {
    **{case.name: (case.field, case.reason_mentions) for case in BAD_CONVENTIONS},
    **{case.name: ("", (case.position,)) for case in MALFORMED_FILES},
}


@pytest.mark.parametrize("name", list(EXPECTED_ON_STDERR), ids=str)
async def test_cli_start_of_a_refused_file_exits_1_naming_the_field_and_starts_nothing(
    name: str,
    refused_files: dict[str, WrittenFile],
    refused_starts: dict[str, CliRun],
    client: Client,
    db_pool: asyncpg.Pool,
) -> None:
    run, written = refused_starts[name], refused_files[name]
    field, mentions = EXPECTED_ON_STDERR[name]

    assert run.code == 1, run
    assert run.stdout == "", run
    assert "Traceback" not in run.stderr, run
    assert run.stderr_lines[0] == f"refused: {written.path}", run
    if field:
        assert any(line.startswith(f"  {field}: ") for line in run.stderr_lines), run
    for mention in mentions:
        assert mention in run.stderr, run
    assert not await workflow_exists(client, written.convention_id)
    assert await stored_milestone_count(db_pool, written.convention_id) == 0


def test_cli_reports_a_yaml_syntax_error_on_one_line_with_its_line_and_column(
    refused_starts: dict[str, CliRun],
) -> None:
    # starter.main: "user mistakes become one line each on stderr".
    run = refused_starts["malformed-yaml"]

    assert run.code == 1, run
    assert len(run.stderr_lines) == 2, run
    assert "line 2, column 8" in run.stderr_lines[1], run


# --- answers through the real workflow -----------------------------------------------------

REVIEWERS = ("psa", "mic", "dfp", "amica")
PSA_REVIEW = "drafting.review.v1.psa"
MIC_REVIEW = "drafting.review.v1.mic"
APPROVE_V1: dict[str, Any] = {"decision": "approve", "version": 1}
REQUEST_CHANGES_V1: dict[str, Any] = {
    "decision": "request_changes",
    "version": 1,
    "comments": "Ajouter l'article 5 sur le suivi de la carte de formation.",
}
# Every step of a convention takes milliseconds on the dev server: an answer's consequence
# that has not shown after this long is not coming.
PROMPT_SECONDS = 5.0


@dataclass(frozen=True)
class OpenDrafting:
    """A running Tanger convention whose four reviews are open, at rest."""

    convention: Convention
    psa_review: Task
    status: ConventionStatus

    @property
    def convention_id(self) -> str:
        return self.convention.id


async def open_drafting(client: Client, pool: asyncpg.Pool) -> OpenDrafting:
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    for party in REVIEWERS:
        await find_task(client, convention.id, f"drafting.review.v1.{party}", wait_seconds=30)
    status = await settled_status(client, pool, convention.id)
    assert status.state is ConventionState.ACTIVE
    assert [task.id for task in status.open_tasks] == [
        f"drafting.review.v1.{party}" for party in REVIEWERS
    ]
    psa_review = next(task for task in status.open_tasks if task.id == PSA_REVIEW)
    return OpenDrafting(convention, psa_review, status)


def answered(status: ConventionStatus, task_id: str) -> bool:
    return any(
        m.kind is MilestoneKind.TASK_ANSWERED and m.task_id == task_id for m in status.milestones
    )


def is_open(status: ConventionStatus, task_id: str) -> bool:
    return any(task.id == task_id for task in status.open_tasks)


async def accepted_updates(client: Client, convention_id: str) -> int:
    """Updates the workflow's history records as accepted (a refused one leaves no event)."""
    history = await client.get_workflow_handle(workflow_id_for(convention_id)).fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def assert_unchanged(
    client: Client,
    pool: asyncpg.Pool,
    convention_id: str,
    before: ConventionStatus,
    *,
    accepted_answers: int,
) -> None:
    after = await settled_status(client, pool, convention_id)
    assert after.milestones == before.milestones
    assert after.open_tasks == before.open_tasks
    assert after.state is before.state
    assert await stored_milestone_count(pool, convention_id) == len(after.milestones)
    assert await accepted_updates(client, convention_id) == accepted_answers


async def test_answer_from_a_party_that_does_not_owe_the_task_is_refused_and_changes_nothing(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    drafting = await open_drafting(client, db_pool)

    with pytest.raises(Refused) as refused:
        await answer_open_task(client, drafting.convention_id, PSA_REVIEW, "mic", APPROVE_V1)

    assert str(refused.value).startswith("acting_party: 'mic' does not owe task"), refused.value
    assert f"'{PSA_REVIEW}'" in str(refused.value)
    assert str(refused.value).endswith("'psa' does"), refused.value
    await assert_unchanged(
        client, db_pool, drafting.convention_id, drafting.status, accepted_answers=0
    )


async def test_answer_to_an_unknown_task_is_refused_and_changes_nothing(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    drafting = await open_drafting(client, db_pool)
    request = AnswerTask(
        task_id="drafting.review.v7.psa",
        acting_party="psa",
        answer=ReviewAnswer(decision="approve", version=1),
    )

    with pytest.raises(Refused) as refused:
        await answer_task(client, drafting.convention_id, request)
    with pytest.raises(InputError) as refused_by_client:
        await answer_open_task(
            client, drafting.convention_id, "drafting.review.v7.psa", "psa", APPROVE_V1
        )

    assert str(refused.value).startswith("task_id: unknown task 'drafting.review.v7.psa'")
    for party in REVIEWERS:
        assert f"drafting.review.v1.{party}" in str(refused.value)
    assert [problem.field for problem in refused_by_client.value.errors] == ["task"]
    assert "'drafting.review.v7.psa'" in refused_by_client.value.errors[0].reason
    await assert_unchanged(
        client, db_pool, drafting.convention_id, drafting.status, accepted_answers=0
    )


async def test_answer_of_the_wrong_kind_is_refused_by_the_workflow_and_changes_nothing(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    drafting = await open_drafting(client, db_pool)
    request = AnswerTask(task_id=PSA_REVIEW, acting_party="psa", answer=SignAnswer(decision="sign"))

    with pytest.raises(Refused) as refused:
        await answer_task(client, drafting.convention_id, request)

    assert str(refused.value).startswith("answer.kind: "), refused.value
    assert "expects a 'review_draft' answer, not 'sign'" in str(refused.value)
    await assert_unchanged(
        client, db_pool, drafting.convention_id, drafting.status, accepted_answers=0
    )


async def test_review_of_a_version_not_under_review_is_refused_and_changes_nothing(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    drafting = await open_drafting(client, db_pool)

    with pytest.raises(Refused) as refused:
        await answer_open_task(
            client, drafting.convention_id, PSA_REVIEW, "psa", {"decision": "approve", "version": 2}
        )

    assert str(refused.value) == "answer.version: 2 is not the version under review (1)"
    await assert_unchanged(
        client, db_pool, drafting.convention_id, drafting.status, accepted_answers=0
    )


@pytest.mark.parametrize("comments", [None, "", "   "], ids=["absent", "empty", "blank"])
async def test_request_for_changes_without_comments_is_refused_before_it_is_sent(
    client: Client, db_pool: asyncpg.Pool, comments: str | None
) -> None:
    drafting = await open_drafting(client, db_pool)
    fields: dict[str, Any] = {"decision": "request_changes", "version": 1}
    if comments is not None:
        fields["comments"] = comments

    with pytest.raises(InputError) as refused:
        build_answer(drafting.psa_review, "psa", fields)
    with pytest.raises(InputError) as refused_on_the_way:
        await answer_open_task(client, drafting.convention_id, PSA_REVIEW, "psa", fields)

    for error in (refused.value, refused_on_the_way.value):
        assert error.errors == [FieldError("answer.comments", "required when asking for changes")]
        assert PSA_REVIEW in error.source
    await assert_unchanged(
        client, db_pool, drafting.convention_id, drafting.status, accepted_answers=0
    )


async def test_answer_to_a_task_already_done_is_refused_and_changes_nothing(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    drafting = await open_drafting(client, db_pool)
    await answer_open_task(client, drafting.convention_id, PSA_REVIEW, "psa", APPROVE_V1)
    before = await settled_status(client, db_pool, drafting.convention_id)
    assert PSA_REVIEW not in {task.id for task in before.open_tasks}
    change_of_mind = build_answer(
        drafting.psa_review,
        "psa",
        {"decision": "request_changes", "version": 1, "comments": "Finalement, non."},
    )

    with pytest.raises(Refused) as refused:
        await answer_task(client, drafting.convention_id, change_of_mind)

    assert str(refused.value).startswith(f"task_id: task '{PSA_REVIEW}' is already done")
    assert "answered by psa" in str(refused.value)
    await assert_unchanged(client, db_pool, drafting.convention_id, before, accepted_answers=1)


async def test_review_cancelled_by_another_partys_request_for_changes_is_refused(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    drafting = await open_drafting(client, db_pool)
    mic_review = build_answer(
        next(task for task in drafting.status.open_tasks if task.id == MIC_REVIEW),
        "mic",
        APPROVE_V1,
    )
    await answer_open_task(
        client, drafting.convention_id, PSA_REVIEW, "psa", REQUEST_CHANGES_V1, actor="Rémi Cabon"
    )
    await status_when(
        client,
        drafting.convention_id,
        lambda status: answered(status, PSA_REVIEW) and not is_open(status, MIC_REVIEW),
    )
    before = await settled_status(client, db_pool, drafting.convention_id)

    with pytest.raises(Refused) as refused:
        await answer_task(client, drafting.convention_id, mic_review)

    assert str(refused.value) == f"task_id: task '{MIC_REVIEW}' is already cancelled"
    await assert_unchanged(client, db_pool, drafting.convention_id, before, accepted_answers=1)


async def test_request_for_changes_opens_the_revision_at_once_though_other_reviews_were_pending(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    # The round's other reviews are cancelled by the request for changes: nothing is left to
    # wait for, so the office's revision task opens now, not when the reviews fall due.
    drafting = await open_drafting(client, db_pool)

    await answer_open_task(
        client, drafting.convention_id, PSA_REVIEW, "psa", REQUEST_CHANGES_V1, actor="Rémi Cabon"
    )
    revision = await find_task(
        client, drafting.convention_id, "drafting.revise.v2", wait_seconds=PROMPT_SECONDS
    )

    assert revision.assignee == "ofppt"
    assert REQUEST_CHANGES_V1["comments"] in revision.title
    status = await settled_status(client, db_pool, drafting.convention_id)
    assert [task.id for task in status.open_tasks] == ["drafting.revise.v2"]


async def test_the_same_answer_sent_twice_is_accepted_once_and_refused_the_second_time(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    drafting = await open_drafting(client, db_pool)
    request = build_answer(drafting.psa_review, "psa", APPROVE_V1, actor="Rémi Cabon")

    receipt = await answer_task(client, drafting.convention_id, request)
    before = await settled_status(client, db_pool, drafting.convention_id)
    with pytest.raises(Refused) as refused:
        await answer_task(client, drafting.convention_id, request)

    assert receipt.task_id == PSA_REVIEW
    assert str(refused.value) == (
        f"task_id: task '{PSA_REVIEW}' is already done (answered by Rémi Cabon)"
    )
    answered = [
        m
        for m in before.milestones
        if m.kind is MilestoneKind.TASK_ANSWERED and m.task_id == PSA_REVIEW
    ]
    assert len(answered) == 1
    await assert_unchanged(client, db_pool, drafting.convention_id, before, accepted_answers=1)


# --- starting twice ------------------------------------------------------------------------


def single_review_convention() -> Convention:
    """The Tanger convention cut down to one review by PSA: one answer completes it."""
    data = example("tanger-four-conventions").model_dump(mode="json")
    data["stages"] = [{**data["stages"][0], "reviewers": ["psa"]}]
    return Convention.model_validate(data)


async def test_second_start_of_a_running_convention_is_refused_and_the_first_run_goes_on(
    client: Client,
    db_pool: asyncpg.Pool,
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    drafting = await open_drafting(client, db_pool)
    handle = client.get_workflow_handle(workflow_id_for(drafting.convention_id))
    first_run = (await handle.describe()).run_id
    file = write_convention(drafting.convention, tmp_path / "again.yaml")

    with pytest.raises(ConventionAlreadyStarted) as refused:
        await start_convention(client, drafting.convention, DEV_TASK_QUEUE)
    run = await run_cli("start", str(file), env=cli_env(dev_env, postgres_url))

    assert "already started" in str(refused.value)
    assert run.code == 1, run
    assert "already started" in run.stderr, run
    assert "Traceback" not in run.stderr, run
    assert (await handle.describe()).run_id == first_run
    await assert_unchanged(
        client, db_pool, drafting.convention_id, drafting.status, accepted_answers=0
    )


async def test_start_after_the_convention_completed_is_refused_too(
    client: Client,
    db_pool: asyncpg.Pool,
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    convention = single_review_convention()
    await start_convention(client, convention, DEV_TASK_QUEUE)
    await answer_open_task(client, convention.id, PSA_REVIEW, "psa", APPROVE_V1, wait_seconds=30)
    handle = client.get_workflow_handle(workflow_id_for(convention.id))
    outcome = await handle.result()
    completed = await settled_status(client, db_pool, convention.id)
    assert completed.state is ConventionState.COMPLETED
    assert outcome["milestone_count"] == len(completed.milestones)
    file = write_convention(convention, tmp_path / "completed.json")

    with pytest.raises(ConventionAlreadyStarted) as refused:
        await start_convention(client, convention, DEV_TASK_QUEUE)
    run = await run_cli("start", str(file), env=cli_env(dev_env, postgres_url))

    assert "already started" in str(refused.value)
    assert run.code == 1, run
    assert "already started" in run.stderr, run
    assert "Traceback" not in run.stderr, run
    runs = [e async for e in client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) == 1
    after = await settled_status(client, db_pool, convention.id)
    assert after == completed
    assert await stored_milestone_count(db_pool, convention.id) == len(completed.milestones)


async def test_answer_to_a_completed_convention_is_refused_not_reported_as_unknown(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    convention = single_review_convention()
    await start_convention(client, convention, DEV_TASK_QUEUE)
    review = await find_task(client, convention.id, PSA_REVIEW, wait_seconds=30)
    request = build_answer(review, "psa", APPROVE_V1)
    await answer_task(client, convention.id, request)
    await client.get_workflow_handle(workflow_id_for(convention.id)).result()
    completed = await settled_status(client, db_pool, convention.id)
    assert completed.state is ConventionState.COMPLETED

    # The convention is known (its status answers): the answer is refused, saying it is over.
    with pytest.raises(Refused) as refused:
        await answer_task(client, convention.id, request)

    assert str(refused.value).startswith("convention: "), refused.value
    assert "completed" in str(refused.value)

    assert await settled_status(client, db_pool, convention.id) == completed
