"""`starter.py parties …` and `start`'s directory check, as an officer's shell runs them;
and the data migration of running conventions, with its conflicts report."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status, find_task, start_convention
from application.directory.import_proposal import import_files
from application.directory.migration import import_running_conventions
from application.directory.organisations import archive_organisation
from application.scenarios import scenario_files
from demo import DEMO_EDITOR, EXAMPLES_DIR, import_seed_parties
from schemas.convention_file import load_convention
from storage import directory as store
from storage.read_model import record_convention_file
from tests.cli_runner import cli_env, run_cli, workflow_exists, write_convention
from tests.conftest import DEV_TASK_QUEUE
from tests.directory_stack import ADMIN, fresh_id, funding_file
from tests.partner_stack import DECISION, registered
from tests.test_delivery_webhook import stop
from tests.test_partner_api import answers_in_history


async def test_an_admin_adds_an_organisation_and_a_person_in_arabic_from_the_command_line(
    dev_env: WorkflowEnvironment, postgres_url: str
) -> None:
    env = cli_env(dev_env, postgres_url)
    party = fresh_id("isdb")
    added = await run_cli(
        "parties", "--officer", "amina", "add", party, "--kind", "funder", "--country", "SA",
        "--name-ar", "البنك الإسلامي للتنمية", "--name-fr", "Banque islamique de développement",
        env=env,
    )  # fmt: skip
    assert added.code == 0, added
    person = await run_cli(
        "parties", "contacts", "add", party, "--name", "فاطمة الزهراء العلوي",
        "--email", f"{party}@isdb.example", "--language", "ar",
        "--capacity", "decide_funding", "--until", "2027-12-31",
        env=env,
    )  # fmt: skip
    assert person.code == 0, person
    shown = await run_cli("parties", "show", party, env=env)
    assert shown.code == 0, shown
    assert "البنك الإسلامي للتنمية" in shown.stdout
    assert "فاطمة الزهراء العلوي" in shown.stdout and "never answered" in shown.stdout
    assert "decide_funding" in shown.stdout and "2027-12-31" in shown.stdout
    listed = await run_cli("parties", "list", "--search", party, env=env)
    assert party in listed.stdout
    silent = await run_cli("parties", "contacts", "silent", party, env=env)
    assert "فاطمة الزهراء العلوي" in silent.stdout


async def test_parties_add_refuses_an_id_with_a_space_in_one_line(
    dev_env: WorkflowEnvironment, postgres_url: str
) -> None:
    refused = await run_cli(
        "parties", "add", "isdb jeddah", "--kind", "funder", "--country", "SA", "--name-fr", "X",
        env=cli_env(dev_env, postgres_url),
    )  # fmt: skip
    assert refused.code == 1, refused
    assert "space" in refused.stderr and "Traceback" not in refused.stderr


async def test_start_lists_the_files_directory_changes_and_refuses_unless_an_admin_accepts(
    client: Client, dev_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> None:
    env = cli_env(dev_env, postgres_url)
    party = fresh_id()
    funder = {"name": "Fatima Zahra EL ALAOUI", "email": f"{party}@isdb.example"}
    first = funding_file(party, [funder])
    started = await run_cli(
        "start", "--officer", "loubna", str(write_convention(first, tmp_path / "a.yaml")), env=env
    )
    assert started.code == 0, started
    assert started.stderr == "", started
    # loubna pressed Start; the file's officer stays the responsible one.
    recorded = (await convention_status(client, first.id)).milestones[0]
    assert recorded.actor == "loubna" and recorded.details["started_by"] == "loubna"
    assert recorded.details["responsible_officer"] == first.officer.name != "loubna"
    shown = await run_cli("parties", "show", party, env=env)
    assert "organisation.create" in shown.stdout and "officer:loubna" in shown.stdout
    intruder = {"name": "Mallory Intrus", "email": f"mallory-{party}@evil.example"}
    second = funding_file(party, [funder, intruder])
    file = write_convention(second, tmp_path / "b.yaml")
    refused = await run_cli("start", str(file), env=env)
    assert refused.code == 1, refused
    assert f"parties.2.contacts.1: {party}: adds Mallory Intrus" in refused.stderr
    assert not await workflow_exists(client, second.id)
    accepted = await run_cli("start", "--accept-directory-changes", str(file), env=env)
    assert accepted.code == 0, accepted
    assert f"directory: change: parties.2.contacts.1: {party}: adds" in accepted.stderr
    assert await workflow_exists(client, second.id)
    for convention in (first, second):
        await stop(client, convention.id)


async def test_the_migration_imports_running_conventions_once_and_reports_conflicts(
    db_pool: asyncpg.Pool,
) -> None:
    party = fresh_id()
    funder = {"name": "Fatima Zahra EL ALAOUI", "email": f"{party}@isdb.example"}
    other = {"name": "Mallory Intrus", "email": f"mallory-{party}@evil.example"}
    older, newer = funding_file(party, [funder]), funding_file(party, [other])
    for convention in (older, newer):
        await record_convention_file(db_pool, convention)
    only = [older.id, newer.id]

    report = await import_running_conventions(db_pool, ADMIN, only)

    assert report.conventions == 2 and party in report.organisations
    [(person, _)] = await store.people_of(db_pool, party)
    assert person.email == funder["email"]
    [conflict] = [c for c in report.conflicts if c.convention_id == newer.id and party in c.reason]
    assert "adds Mallory Intrus" in conflict.reason
    again = await import_running_conventions(db_pool, ADMIN, only)
    assert party not in again.organisations
    assert [str(c) for c in again.conflicts] == [str(c) for c in report.conflicts]


async def test_the_demos_seed_parties_are_imported_once_and_a_second_run_changes_nothing(
    db_pool: asyncpg.Pool,
) -> None:
    seeds = [load_convention(file) for file, _ in scenario_files(EXAMPLES_DIR)]
    await import_seed_parties(db_pool, EXAMPLES_DIR)
    version = await store.version(db_pool)
    again = await import_files(db_pool, DEMO_EDITOR, seeds, accept=True)
    assert again == [] and await store.version(db_pool) == version
    for seed in seeds:
        for party in seed.parties:
            found = await store.organisation(db_pool, party.id)
            assert found is not None, party.id


async def test_act_on_behalf_of_an_archived_organisation_is_refused_then_records_the_version(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str
) -> None:
    env = cli_env(dev_env, postgres_url)
    party = fresh_id()
    file = await registered(db_pool, funding_file(party, []))
    await start_convention(dev_env.client, file, DEV_TASK_QUEUE)
    await find_task(dev_env.client, file.id, DECISION, wait_seconds=30)
    await archive_organisation(db_pool, ADMIN, party)
    act = ("act", file.id, DECISION, "--as", party, "--officer", "loubna")
    answer = ("--answer", '{"decision": "reject", "comments": "out of scope"}')
    refused = await run_cli(*act, *answer, env=env)
    assert refused.code == 1, refused
    assert f"{party} is archived in the directory" in refused.stderr
    assert "Traceback" not in refused.stderr
    await archive_organisation(db_pool, ADMIN, party, archived=False)
    accepted = await run_cli(*act, *answer, env=env)
    assert accepted.code == 0, accepted
    [sent] = await answers_in_history(dev_env, file.id)
    assert sent.principal is not None and sent.principal.id == "loubna"
    assert sent.principal.directory is not None
    assert sent.principal.directory.organisation == party
    assert sent.principal.directory.version == await store.version(db_pool)
    await stop(dev_env.client, file.id)
