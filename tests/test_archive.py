"""Closed conventions stay auditable after Temporal has deleted their histories.

Conventions run to completion on the real dev server, are archived (PostgreSQL), then deleted
from Temporal the way retention deletes them; the auditors' commands then read them from the
archive alone and say so. Tampering is done as someone with write access to the database
would: an UPDATE of one byte, a DELETE of one entry.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import asyncpg
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    DescribeNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.archive import Archiver
from application.scenarios import play_scenario
from auditing.archive_check import check_archive
from auditing.archive_source import ArchiveHistories
from auditing.histories import FileHistories, TemporalHistories
from devkit.stack import free_port
from infra.embedded import NAMESPACE_RETENTION, start_temporal_dev_server
from records.archive_store import DirectoryArchive, prepare_run
from records.history_events import history_file_bytes
from schemas.archive import ArchiveProblem
from schemas.audit import VerifyProblem, VerifyReport
from schemas.convention import Convention
from schemas.convention_file import load_answer_script
from schemas.status import ConventionInput
from storage.archive_failures import open_failures
from tests.cli_runner import cli_env, stored_milestone_count, write_convention
from tests.cli_runner import run_cli as run_starter
from tests.conftest import DEV_TASK_QUEUE, EXAMPLES, example
from tests.partner_stack import make_desk
from tests.test_audit_replay import HISTORIES, run_cli, stack_env
from tests.test_office_desk import csrf_of, office_client, signed_in
from workflows.convention import ConventionWorkflow, workflow_id_for

ENTRIES = "SELECT * FROM history_archive WHERE convention_id = $1 ORDER BY seq"
DELETION_WAIT_SECONDS = 90.0  # the dev server deletes once its queue's ack level moves (~30 s)


@dataclass(frozen=True)
class Archived:
    """The conventions of this module, each archived and then deleted from Temporal."""

    kept: Convention  # one run, read back intact from the archive
    continued: Convention  # a continue-as-new chain, read back whole
    blob_altered: Convention
    hash_altered: Convention
    gapped: Convention  # a chain whose first entry is removed
    partly: Convention  # a chain whose first run only is gone from Temporal
    runs: dict[str, list[str]]  # convention id -> run ids, oldest first
    archive_out: dict[str, str]  # convention id -> `audit.py archive` stdout


async def run_conventions(
    client: Client, conventions: dict[str, tuple[Convention, int | None]]
) -> None:
    """Play Cycle Maalam's answers on each; a history limit makes it continue-as-new."""
    script = load_answer_script(EXAMPLES / "cycle-maalam.answers.yaml")

    async def one(convention: Convention, history_limit: int | None) -> None:
        if history_limit is not None:
            await client.start_workflow(
                ConventionWorkflow.run,
                ConventionInput(convention=convention, history_limit=history_limit),
                id=workflow_id_for(convention.id),
                task_queue=DEV_TASK_QUEUE,
            )
        await play_scenario(client, DEV_TASK_QUEUE, convention, script)
        await client.get_workflow_handle(workflow_id_for(convention.id)).result()

    await asyncio.gather(*(one(*spec) for spec in conventions.values()))


async def delete_from_temporal(client: Client, runs: dict[str, list[str]]) -> None:
    """Delete every run, as retention would, and wait until the server no longer has them."""
    for convention_id, run_ids in runs.items():
        for run_id in run_ids:
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(
                        workflow_id=workflow_id_for(convention_id), run_id=run_id
                    ),
                )
            )
    deadline = time.monotonic() + DELETION_WAIT_SECONDS
    remaining = {(c, r) for c, run_ids in runs.items() for r in run_ids}
    while remaining:
        for convention_id, run_id in sorted(remaining):
            try:
                await client.get_workflow_handle(
                    workflow_id_for(convention_id), run_id=run_id
                ).fetch_history()
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
                remaining.discard((convention_id, run_id))
        if remaining and time.monotonic() > deadline:
            raise AssertionError(f"still in Temporal after {DELETION_WAIT_SECONDS}s: {remaining}")
        await asyncio.sleep(0.5)


@pytest_asyncio.fixture(scope="module")
async def archived(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str
) -> Archived:
    """Five conventions run, archived with `audit.py archive`, tampered with, deleted."""
    client = dev_env.client
    conventions = {
        "kept": (example("cycle-maalam"), None),
        "continued": (example("cycle-maalam"), 50),
        "blob_altered": (example("cycle-maalam"), None),
        "hash_altered": (example("cycle-maalam"), None),
        "gapped": (example("cycle-maalam"), 50),
        "partly": (example("cycle-maalam"), 50),
    }
    await run_conventions(client, conventions)
    ids = {name: convention.id for name, (convention, _) in conventions.items()}
    runs = {
        convention_id: [
            run.run_id for run in (await TemporalHistories(client).history(convention_id)).runs
        ]
        for convention_id in ids.values()
    }
    code, out, err = await run_cli("archive", *ids.values(), env=stack_env(dev_env, postgres_url))
    assert code == 0, err
    archive_out = {
        convention_id: "".join(
            line + "\n" for line in out.splitlines() if line.split()[1] == convention_id
        )
        for convention_id in ids.values()
    }
    await delete_from_temporal(
        client,
        {cid: run_ids[:1] if cid == ids["partly"] else run_ids for cid, run_ids in runs.items()},
    )
    # Tampering, after the fact, by hand.
    await db_pool.execute(
        "UPDATE history_archive SET history_gzip = set_byte(history_gzip, 200,"
        " get_byte(history_gzip, 200) # 1) WHERE convention_id = $1 AND seq = 1",
        ids["blob_altered"],
    )
    await db_pool.execute(
        "UPDATE history_archive SET hash = overlay(hash placing"
        " (CASE WHEN right(hash, 1) = '0' THEN '1' ELSE '0' END) from 64 for 1)"
        " WHERE convention_id = $1 AND seq = 1",
        ids["hash_altered"],
    )
    await db_pool.execute(
        "DELETE FROM history_archive WHERE convention_id = $1 AND seq = 1", ids["gapped"]
    )
    return Archived(
        **{name: convention for name, (convention, _) in conventions.items()},
        runs=runs,
        archive_out=archive_out,
    )


async def test_each_closed_run_is_archived_once_compressed_hashed_and_chained(
    archived: Archived, db_pool: asyncpg.Pool
) -> None:
    convention_id = archived.continued.id
    rows = await db_pool.fetch(ENTRIES, convention_id)

    assert len(archived.runs[convention_id]) >= 2, "the chain continued as new"
    assert [row["run_id"] for row in rows] == archived.runs[convention_id]
    assert [row["closed_as"] for row in rows] == ["continued_as_new"] * (len(rows) - 1) + [
        "completed"
    ]
    assert rows[0]["prev_hash"] == "0" * 64
    assert all(row["prev_hash"] == before["hash"] for before, row in pairwise(rows))
    for row in rows:
        content = gzip.decompress(row["history_gzip"])
        assert hashlib.sha256(content).hexdigest() == row["history_sha256"]
        assert len(content) == row["size_bytes"] > 4 * len(row["history_gzip"])
        assert json.loads(content)["events"][0]["eventType"] == (
            "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
        )
    lines = archived.archive_out[convention_id].splitlines()
    assert [line.split()[:4] for line in lines] == [
        ["new", convention_id, "run", run_id] for run_id in archived.runs[convention_id]
    ]


async def test_archiving_again_changes_nothing(
    archived: Archived, dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str
) -> None:
    before = await db_pool.fetch(ENTRIES, archived.kept.id)

    code, out, err = await run_cli(
        "archive", archived.kept.id, env=stack_env(dev_env, postgres_url)
    )

    # Temporal no longer has it: nothing to archive, and what the archive holds stays.
    assert code == 0, err
    assert out.startswith(f"kept  {archived.kept.id}  not in Temporal any more; 1 run(s) in ")
    assert await db_pool.fetch(ENTRIES, archived.kept.id) == before


async def test_from_the_archive_alone_replay_timeline_verify_and_export_say_archive(
    archived: Archived,
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    env = stack_env(dev_env, postgres_url)
    kept, continued = archived.kept.id, archived.continued.id

    replay, timeline, verify, export = await asyncio.gather(
        run_cli("replay", kept, continued, env=env),
        run_cli("timeline", kept, "--format", "json", env=env),
        run_cli("verify", kept, continued, env=env),
        run_cli("export", continued, "--out", str(tmp_path), env=env),
    )

    code, out, err = replay
    assert code == 0, err
    lines = dict(line.split(None, 2)[1:] for line in out.splitlines())
    runs = len(archived.runs[continued])
    assert lines[kept].startswith("(1 run, ") and "; archive PostgreSQL " in lines[kept]
    assert lines[continued].startswith(f"({runs} runs, ") and "; archive " in lines[continued]
    code, out, err = timeline
    assert code == 0, err
    document = json.loads(out)
    assert document["source"].startswith("archive PostgreSQL ")
    assert document["entries"][0]["event"] == "convention_started"
    assert document["entries"][-1]["event"] == "convention_completed"
    assert err.startswith(f"timeline of {kept} from archive ")
    code, out, err = verify
    assert code == 0, err
    for line in out.splitlines():
        assert line.startswith("ok    ") and "archived run" in line and "; archive " in line
    assert f"{runs} archived runs intact" in out
    code, out, err = export
    assert code == 0, err
    assert out.splitlines()[-1].startswith(f"{runs} run(s) of {continued} from archive ")
    manifest = json.loads((tmp_path / workflow_id_for(continued) / "manifest.json").read_text())
    assert manifest["source"].startswith("archive ")
    assert [run["run_id"] for run in manifest["runs"]] == archived.runs[continued]
    # The exported files are the archived bytes: one SHA-256 wherever a history is read from.
    rows = await db_pool.fetch(ENTRIES, continued)
    assert [run["sha256"] for run in manifest["runs"]] == [row["history_sha256"] for row in rows]


async def test_a_chain_partly_past_retention_is_read_whole_from_both_places(
    archived: Archived, dev_env: WorkflowEnvironment, postgres_url: str
) -> None:
    env = stack_env(dev_env, postgres_url)
    partly = archived.partly.id
    runs = len(archived.runs[partly])

    (code, out, err), (verify_code, verify_out, verify_err) = await asyncio.gather(
        run_cli("replay", partly, env=env), run_cli("verify", partly, env=env)
    )

    assert code == 0, err
    assert out.startswith(f"ok    {partly}  ({runs} runs, ")
    assert f" ({runs - 1} run{'s' * (runs > 2)}) and archive PostgreSQL " in out
    assert out.rstrip().endswith("(history_archive) (1 run))")
    assert verify_code == 0, verify_out + verify_err
    assert f"{runs} archived runs intact" in verify_out


async def test_an_altered_byte_of_an_archived_history_or_of_its_hash_is_named(
    archived: Archived, dev_env: WorkflowEnvironment, postgres_url: str
) -> None:
    env = stack_env(dev_env, postgres_url)
    blob, hashed = archived.blob_altered.id, archived.hash_altered.id
    (blob_run,), (hash_run,) = archived.runs[blob], archived.runs[hashed]

    (code, out, err), (replay_code, replay_out, _) = await asyncio.gather(
        run_cli("verify", blob, hashed, env=env), run_cli("replay", blob, env=env)
    )

    assert code == 1, err
    lines = out.splitlines()
    assert all(line.startswith("FAIL  ") for line in lines)
    altered = [line for line in lines if f"{blob} archive #1 (run {blob_run}): " in line]
    assert altered and any(
        "does not match its sha256" in line or "does not decompress" in line for line in altered
    ), lines
    assert f"FAIL  {hashed} archive #1 (run {hash_run}): its fields do not match its hash" in out
    # The history itself still reads (only its hash was altered): the milestones agree.
    assert not any(f"{hashed} #" in line for line in lines)
    assert replay_code == 1 and replay_out.startswith(f"FAIL  archive entry #1 of {blob} ")


async def test_a_removed_archive_entry_is_named_as_a_gap_and_its_run_as_lost(
    archived: Archived, dev_env: WorkflowEnvironment, postgres_url: str
) -> None:
    env = stack_env(dev_env, postgres_url)
    gapped = archived.gapped.id
    first, second = archived.runs[gapped][:2]

    (code, out, err), (replay_code, replay_out, _) = await asyncio.gather(
        run_cli("verify", "--json", gapped, env=env), run_cli("replay", gapped, env=env)
    )

    assert code == 1, err
    report = VerifyReport.model_validate_json(out)
    assert report.archive is not None
    assert [(f.seq, f.problem) for f in report.archive.findings] == [
        (None, ArchiveProblem.RUN_LOST),
        (1, ArchiveProblem.ENTRY_MISSING),
    ]
    lost, missing = (f.message for f in report.archive.findings)
    assert missing == f"{gapped} archive #1: missing: removed, or never written " + (
        "(the entries after it chain to it)"
    )
    assert lost.startswith(f"{gapped} archive: run {first} (continued into run {second}) is in ")
    # The milestones of the lost run are reported once, not as a list of extra rows.
    (unchecked,) = report.findings
    assert unchecked.problem is VerifyProblem.NO_HISTORY
    assert f"of run {first} not checked" in unchecked.message
    assert replay_code == 1 and f"run {first} (continued into run {second})" in replay_out


async def test_a_convention_in_neither_temporal_nor_the_archive_is_reported_as_such(
    dev_env: WorkflowEnvironment, postgres_url: str
) -> None:
    env = stack_env(dev_env, postgres_url)

    results = await asyncio.gather(
        run_cli("timeline", "never-archived", env=env),
        run_cli("replay", "never-archived", "--source", "archive", env=env),
        run_cli("verify", "never-archived", env=env),
    )

    code, out, err = results[0]
    assert (code, out) == (4, ""), err
    assert err.startswith("not found: convention 'never-archived': in neither temporal ")
    assert " nor archive PostgreSQL " in err
    code, _, err = results[1]
    assert code == 4 and err.startswith("not found: convention 'never-archived': not in archive")
    code, _, err = results[2]
    assert code == 4 and "never-archived: no history and no milestone" in err


async def test_a_convention_past_retention_is_not_started_again_under_its_id(
    archived: Archived,
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    convention = archived.kept  # Temporal no longer holds its id: only PostgreSQL remembers
    milestones_before = await stored_milestone_count(db_pool, convention.id)
    file = write_convention(convention, tmp_path / "again.yaml")

    run = await run_starter("start", str(file), env=cli_env(dev_env, postgres_url))

    assert run.code == 1, run
    assert f"convention {convention.id!r} was already started" in run.stderr, run
    assert "past Temporal's retention" in run.stderr, run
    assert "Traceback" not in run.stderr, run
    handle = dev_env.client.get_workflow_handle(workflow_id_for(convention.id))
    try:
        await handle.describe()
    except RPCError as error:
        assert error.status is RPCStatusCode.NOT_FOUND
    else:
        raise AssertionError(f"{convention.id} was started again")
    assert await stored_milestone_count(db_pool, convention.id) == milestones_before > 0


async def test_a_run_that_cannot_be_archived_is_recorded_retried_and_shown_to_officers(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str, tmp_path: Path
) -> None:
    client = dev_env.client
    convention = example("cycle-maalam")
    await run_conventions(client, {"one": (convention, None)})
    history = await TemporalHistories(client).history(convention.id)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("an operator's typo in PACTE_ARCHIVE_DIR")
    broken = Archiver(client, db_pool, DirectoryArchive(blocked))

    first = await broken.archive_closed(convention.id, history.runs)
    second = await broken.archive_closed(convention.id, history.runs)
    (status, failures) = await asyncio.gather(
        run_starter("status", convention.id, env=cli_env(dev_env, postgres_url)),
        run_cli("archive", "--failures", env=stack_env(dev_env, postgres_url)),
    )

    assert first.archived == second.archived == []
    (failure,) = second.failed
    assert (failure.attempts, failure.run_id) == (2, history.runs[0].run_id)
    assert "NotADirectoryError" in failure.error or "FileExistsError" in failure.error
    assert f"archive: NOT ARCHIVED run {failure.run_id}: " in status.stdout
    assert "(2 attempt(s) since " in status.stdout
    code, _, err = failures
    assert code == 1 and f"not archived: {convention.id} run {failure.run_id} (2 " in err

    # Fixed: a directory that does not exist yet (the first write creates it).
    fixed = Archiver(client, db_pool, DirectoryArchive(tmp_path / "fixed" / "archive"))
    report = await fixed.archive_closed(convention.id, history.runs)

    assert [run.newly_archived for run in report.archived] == [True]
    assert len(list((tmp_path / "fixed" / "archive").rglob("*.entry.json"))) == 1
    assert await open_failures(db_pool, convention.id) == []


async def test_a_directory_archive_holds_files_an_auditor_can_gunzip_and_read_offline(
    tmp_path: Path,
) -> None:
    recorded = await FileHistories.load([HISTORIES / "current" / "continued-as-new"])
    (chain,) = recorded.chains
    store = DirectoryArchive(tmp_path / "archive")
    prepared = [prepare_run(chain.convention_id, chain.workflow_id, run) for run in chain.runs]

    first = [await store.add(run) for run in prepared]
    again = [await store.add(run) for run in prepared]

    assert [written for _, written in first] == [True, True]
    assert [written for _, written in again] == [False, False]
    folder = tmp_path / "archive" / chain.workflow_id
    blobs = sorted(folder.glob("*.json.gz"))
    assert [path.name.split(".")[1] for path in blobs] == [run.run_id for run in chain.runs]
    assert gzip.decompress(blobs[0].read_bytes()) == history_file_bytes(chain.runs[0])
    entry = json.loads(sorted(folder.glob("*.entry.json"))[1].read_text())
    assert entry["prev_hash"] == first[0][0].hash and entry["seq"] == 2

    # Offline: no Temporal, no PostgreSQL, the archive directory only.
    offline = {
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/pacte",
        "PACTE_ARCHIVE_DIR": str(tmp_path / "archive"),
    }
    code, out, err = await run_cli(
        "replay", "--source", "archive", chain.convention_id, env=offline
    )
    assert code == 0, err
    assert out.startswith(f"ok    {chain.convention_id}  (2 runs, ")
    assert f"archive directory {tmp_path / 'archive'}" in out

    # An entry file removed: its history file is left without it, and the chain after breaks.
    sorted(folder.glob("*.entry.json"))[0].unlink()
    source = ArchiveHistories(store)
    gathered = await source.gather(chain.convention_id)
    check = check_archive(gathered, [], store.description)
    assert {(f.seq, f.problem) for f in check.findings} == {
        (1, ArchiveProblem.ENTRY_UNREADABLE),
        (None, ArchiveProblem.RUN_LOST),
    }
    orphan = next(f for f in check.findings if f.seq == 1)
    assert "a history file without its entry file: the entry was removed" in orphan.message


async def test_the_embedded_dev_server_keeps_closed_histories_for_the_chosen_retention(
    tmp_path: Path,
) -> None:
    server = await asyncio.to_thread(
        start_temporal_dev_server, tmp_path, port=free_port(), ui_port=None
    )
    try:
        client = await Client.connect(server.address)
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
    finally:
        await asyncio.to_thread(server.stop)

    retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
    assert retention == NAMESPACE_RETENTION


async def test_an_auditor_in_the_browser_reads_a_convention_past_retention_from_the_archive(
    archived: Archived, dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    kept, gapped = archived.kept.id, archived.gapped.id
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "auditor")
        page = await http.get(f"/office/audit/{kept}?lang=en")
        checked = await http.post(
            f"/office/audit/{kept}/check?lang=en", data={"csrf": csrf_of(page)}
        )
        assert checked.status_code == 200, checked.text
        assert "Every run replays on this code." in checked.text
        assert "The milestones agree with the history and their chain holds." in checked.text
        timeline = await http.get(f"/office/audit/{kept}/timeline.csv")
        assert timeline.status_code == 200 and "convention_completed" in timeline.text
        export = await http.get(f"/office/audit/{kept}/export.json")
        assert [run["events"][0]["eventId"] for run in export.json()["runs"]] == ["1"]
        # A run lost from both places is said, not papered over.
        lost = await http.get(f"/office/audit/{gapped}/timeline.csv?lang=en")
        assert lost.status_code == 503, lost.text
