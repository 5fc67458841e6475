"""French, Arabic and English text comes back exactly as it was given.

Through Temporal (the status query, the workflow's own input), through PostgreSQL (milestone
and notification rows, compared in Python and by SQL equality, byte for byte), and through the
command line (a UTF-8 file in, `status --json` out, `act --comments` stored). No step may
normalize, escape, re-encode or trim a character.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from application.conventions import answer_open_task, find_task, start_convention
from schemas.convention import Convention
from schemas.convention_file import load_convention
from schemas.milestones import Milestone, MilestoneKind
from schemas.status import ConventionInput, ConventionStatus
from tests.cli_runner import cli_env, run_cli, settled_status, write_convention
from tests.conftest import DEV_TASK_QUEUE, example, forget_organisations
from workflows.convention import workflow_id_for

TITLE = (
    "Convention « Académie MRE » – Kénitra, Salé, Laâyoune – "
    "اتفاقية شراكة للتكوين المهني – English too"
)
PARTY_NAME = "الوزارة المنتدبة المكلفة بالمغاربة المقيمين بالخارج"
CONTACT_NAME = "مولاي حفيظ العلمي"
COMMENT = "Révision demandée : ajouter l’article 5 – يرجى المراجعة"
CLI_COMMENT = (
    "يرجى إضافة المادة 5 حول التكوين بالتناوب – « alternance » à préciser, s’il vous plaît"
)
CLI_ACTOR = "Amine Ettaïbi – أمين الطيبي"
# Deliberately NOT in NFC: a decomposed é, and a shadda written before its kasra (NFC swaps
# them). Whatever stores it must give back these very code points.
DECOMPOSED_ACTOR = "Re\u0301mi Cabon – مدر\u0651\u0650ب"

NFC_TEXTS = (TITLE, PARTY_NAME, CONTACT_NAME, COMMENT, CLI_COMMENT, CLI_ACTOR)
PSA_REVIEW = "drafting.review.v1.psa"
REVISION = "drafting.revise.v2"
OTHER_REVIEWERS = ("mic", "dfp", "amica")


def test_the_texts_are_what_they_claim_to_be() -> None:
    for text in NFC_TEXTS:
        assert unicodedata.normalize("NFC", text) == text
    assert unicodedata.normalize("NFC", DECOMPOSED_ACTOR) != DECOMPOSED_ACTOR
    assert any("\u0600" <= char <= "\u06ff" for char in TITLE)
    assert any(char in "éâ«»–’" for char in TITLE + COMMENT)


def multilingual_convention() -> Convention:
    """The Tanger convention with an accented, Arabic and English title, an Arabic party."""
    data = example("tanger-four-conventions").model_dump(mode="json")
    data["title"] = TITLE
    mic = data["parties"][1]
    assert mic["id"] == "mic"
    mic["name"] = PARTY_NAME
    mic["contacts"][0]["name"] = CONTACT_NAME
    mic["contacts"][0]["language"] = "ar"
    return Convention.model_validate(data)


def assert_identical(found: str | None, expected: str) -> None:
    """The same code points, hence the same UTF-8 bytes and the same normalization form."""
    assert found == expected
    assert found is not None
    assert found.encode("utf-8") == expected.encode("utf-8")
    assert (unicodedata.normalize("NFC", found) == found) is (
        unicodedata.normalize("NFC", expected) == expected
    )


async def approve_the_other_reviews(client: Client, convention_id: str) -> None:
    for party in OTHER_REVIEWERS:
        await answer_open_task(
            client,
            convention_id,
            f"drafting.review.v1.{party}",
            party,
            {"decision": "approve", "version": 1},
            wait_seconds=30,
        )


def the_answer(status: ConventionStatus, task_id: str) -> Milestone:
    [answered] = [
        m
        for m in status.milestones
        if m.kind is MilestoneKind.TASK_ANSWERED and m.task_id == task_id
    ]
    return answered


# --- a convention read from a JSON file and answered through the Python client ------------


@dataclass(frozen=True)
class Answered:
    convention: Convention
    status: ConventionStatus


@pytest_asyncio.fixture(scope="module")
async def answered(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Answered]:
    """Read from a UTF-8 JSON file, started, reviewed: three approvals, then PSA's comments."""
    client = dev_env.client
    written = multilingual_convention()
    file = write_convention(written, tmp_path_factory.mktemp("utf8") / "convention.json")
    assert TITLE in file.read_text(encoding="utf-8")  # unescaped, as an officer writes it
    convention = load_convention(file)
    assert convention == written
    await forget_organisations(db_pool, (party.id for party in convention.parties))
    await start_convention(client, convention, DEV_TASK_QUEUE)
    await approve_the_other_reviews(client, convention.id)
    await answer_open_task(
        client,
        convention.id,
        PSA_REVIEW,
        "psa",
        {"decision": "request_changes", "version": 1, "comments": COMMENT},
        actor=DECOMPOSED_ACTOR,
        wait_seconds=30,
    )
    await find_task(client, convention.id, REVISION, wait_seconds=30)
    yield Answered(convention, await settled_status(client, db_pool, convention.id))


async def test_text_round_trips_through_temporal_unchanged(
    answered: Answered, client: Client
) -> None:
    status = answered.status

    assert_identical(status.title, TITLE)
    assert_identical(status.milestones[0].summary, f"Convention started: {TITLE}")
    answer = the_answer(status, PSA_REVIEW)
    assert_identical(answer.details["answer"]["comments"], COMMENT)
    assert_identical(answer.actor, DECOMPOSED_ACTOR)
    [revision] = status.open_tasks
    assert_identical(revision.title, f"Revise the text as psa asked: {COMMENT}")

    history = await client.get_workflow_handle(
        workflow_id_for(answered.convention.id)
    ).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [given] = await client.data_converter.decode(started.input.payloads, [ConventionInput])
    assert isinstance(given, ConventionInput)
    assert_identical(given.convention.title, TITLE)
    assert_identical(given.convention.party("mic").name, PARTY_NAME)
    assert_identical(given.convention.party("mic").contacts[0].name, CONTACT_NAME)


async def test_text_round_trips_through_postgresql_byte_for_byte(
    answered: Answered, db_pool: asyncpg.Pool
) -> None:
    convention_id = answered.convention.id
    rows = await db_pool.fetch(
        "SELECT seq, kind, task_id, actor, summary, details, convert_to(summary, 'UTF8') AS raw"
        " FROM milestones WHERE convention_id = $1 ORDER BY seq",
        convention_id,
    )
    assert len(rows) == len(answered.status.milestones)
    for row, milestone in zip(rows, answered.status.milestones, strict=True):
        assert_identical(row["summary"], milestone.summary)
        assert bytes(row["raw"]) == milestone.summary.encode("utf-8")
    assert_identical(rows[0]["summary"], f"Convention started: {TITLE}")
    [answer] = [
        row for row in rows if row["kind"] == "task_answered" and row["task_id"] == PSA_REVIEW
    ]
    assert_identical(answer["details"]["answer"]["comments"], COMMENT)
    assert_identical(answer["actor"], DECOMPOSED_ACTOR)

    async def count(query: str, *values: Any) -> int:
        # Whole statements, values as parameters: no SQL is built from text (test_security_sql).
        found: int = await db_pool.fetchval(query, convention_id, *values)
        return found

    assert (
        await count(
            "SELECT count(*) FROM milestones WHERE convention_id = $1 AND summary = $2",
            f"Convention started: {TITLE}",
        )
        == 1
    )
    assert (
        await count(
            "SELECT count(*) FROM milestones WHERE convention_id = $1"
            " AND details->'answer'->>'comments' = $2",
            COMMENT,
        )
        == 1
    )
    assert (
        await count(
            "SELECT count(*) FROM milestones WHERE convention_id = $1"
            " AND convert_to(details->'answer'->>'comments', 'UTF8') = $2",
            COMMENT.encode("utf-8"),
        )
        == 1
    )
    assert (
        await count(
            "SELECT count(*) FROM milestones WHERE convention_id = $1 AND actor = $2",
            DECOMPOSED_ACTOR,
        )
        == 1
    )
    # Not normalized on the way: the NFC spelling of the actor is a different string.
    assert (
        await count(
            "SELECT count(*) FROM milestones WHERE convention_id = $1 AND actor = $2",
            unicodedata.normalize("NFC", DECOMPOSED_ACTOR),
        )
        == 0
    )
    assert (
        await count(
            "SELECT count(*) FROM milestones WHERE convention_id = $1 AND starts_with(summary, $2)",
            f"Revise the text as psa asked: {COMMENT} — ",
        )
        == 1
    )


async def test_arabic_names_reach_the_notifications_unchanged(
    answered: Answered, db_pool: asyncpg.Pool
) -> None:
    convention_id = answered.convention.id
    recipients = await db_pool.fetchval(
        "SELECT recipients FROM notifications WHERE id = $1",
        f"{convention_id}/drafting.review.v1.mic/task.assigned",
    )
    assert [recipient["name"] for recipient in recipients] == [CONTACT_NAME]
    assert_identical(recipients[0]["name"], CONTACT_NAME)
    subject = await db_pool.fetchval(
        "SELECT subject FROM notifications WHERE id = $1",
        f"{convention_id}/{REVISION}/task.assigned",
    )
    assert_identical(subject, f"[{convention_id}] Revise the text as psa asked: {COMMENT}")


# --- the same through the command line -----------------------------------------------------


async def test_text_round_trips_through_the_cli(
    client: Client,
    db_pool: asyncpg.Pool,
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    convention = multilingual_convention()
    file = write_convention(convention, tmp_path / "convention.yaml")
    env = cli_env(dev_env, postgres_url)

    started = await run_cli("start", str(file), env=env)
    assert started.code == 0, started
    await approve_the_other_reviews(client, convention.id)
    await find_task(client, convention.id, PSA_REVIEW, wait_seconds=30)
    acted = await run_cli(
        "act",
        convention.id,
        PSA_REVIEW,
        "--as",
        "psa",
        "--actor",
        CLI_ACTOR,
        "--decision",
        "request_changes",
        "--version",
        "1",
        "--comments",
        CLI_COMMENT,
        env=env,
    )
    assert acted.code == 0, acted
    await find_task(client, convention.id, REVISION, wait_seconds=30)
    settled = await settled_status(client, db_pool, convention.id)
    as_json, as_text = await asyncio.gather(
        run_cli("status", convention.id, "--json", env=env),
        run_cli("status", convention.id, env=env),
    )

    assert as_json.code == 0, as_json
    for text in (TITLE, CLI_COMMENT, CLI_ACTOR):
        assert text in as_json.stdout  # literally, not \u-escaped
    status = ConventionStatus.model_validate_json(as_json.stdout)
    assert status == settled
    assert_identical(status.title, TITLE)
    answer = the_answer(status, PSA_REVIEW)
    assert_identical(answer.details["answer"]["comments"], CLI_COMMENT)
    assert_identical(answer.actor, CLI_ACTOR)

    assert as_text.code == 0, as_text
    lines = as_text.stdout.splitlines()
    assert_identical(lines[0], f"{convention.id} — {TITLE}")
    # The party by its name (the directory's, else the file's), no longer its id.
    [psa] = [party for party in convention.parties if party.id == "psa"]
    asked = f"Revise the text as {psa.name} asked: {CLI_COMMENT}"
    assert any(line.endswith(asked) for line in lines), lines

    stored = await db_pool.fetchrow(
        "SELECT details->'answer'->>'comments' AS comments, actor FROM milestones"
        " WHERE convention_id = $1 AND kind = 'task_answered' AND task_id = $2",
        convention.id,
        PSA_REVIEW,
    )
    assert_identical(stored["comments"], CLI_COMMENT)
    assert_identical(stored["actor"], CLI_ACTOR)
    assert (
        await db_pool.fetchval(
            "SELECT count(*) FROM milestones WHERE convention_id = $1"
            " AND details->'answer'->>'comments' = $2 AND actor = $3",
            convention.id,
            CLI_COMMENT,
            CLI_ACTOR,
        )
        == 1
    )
