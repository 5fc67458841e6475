"""The cooperation officers' command line: validate, start, act, status, list, schema, inbox,
postpone, reassign, terminate, change-officer (the responsible officer), keys (partners' API
keys), users (office accounts), report (the office's portfolio), parties (the partner
directory).

Exit codes: 0 done; 1 input refused (invalid file or answer, already started, unknown
parent); 2 usage error (a malformed --query, or a payload key missing, wrong or malformed);
3 Temporal or PostgreSQL unreachable, or a convention whose workflow does not answer;
4 convention not found.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

# What the parser needs, and the schemas every command reads its input with. Temporal's SDK,
# the workflows, PostgreSQL's driver and the use cases are imported by the commands that use
# them: a `validate`, a `--help` or a mistyped option does not wait for them to load.
from application.cli_support import (
    STARTER_ERRORS,
    STATUS_TIMELINE_SHOWN,
    DatabaseUnavailable,
    ExitCode,
    zone_option,
)
from application.directory import cli_arguments as directory_arguments
from rendering.catalogues import LANGUAGES
from rendering.zones import DEFAULT_ZONE
from schemas.convention_file import load_convention, parse_document, parse_model
from schemas.errors import FieldError, InputError
from schemas.status import ConventionState
from schemas.values import IDENTIFIER_PATTERN
from storage.portfolio import PORTFOLIO_TABLES

if TYPE_CHECKING:
    import asyncpg
    from temporalio.client import Client

    from infra.settings import Settings
    from rendering.record import PartyNames
    from schemas.actors import Principal
    from schemas.officer_actions import OfficerReceipt
    from storage.directory import Person as DirectoryPerson
    from storage.milestones import RecordedTimeline

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_NOT_FOUND = (
    ExitCode.OK,
    ExitCode.REFUSED,
    ExitCode.USAGE,
    ExitCode.UNAVAILABLE,
    ExitCode.NOT_FOUND,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starter.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a convention file, list every error")
    validate.add_argument("file", type=Path)

    schema = commands.add_parser("schema", help="print the JSON Schema of a convention file")
    schema.add_argument("--answer", action="store_true", help="the schema of an answer instead")

    start = commands.add_parser("start", help="start the workflow of a convention file")
    start.add_argument("file", type=Path)
    start.add_argument(
        "--allow-missing-parent",
        action="store_true",
        help="start even if the file's parent convention is unknown to Temporal (unlinked)",
    )
    start.add_argument(
        "--accept-directory-changes",
        action="store_true",
        help="(an admin) make the changes the file's parties would bring to existing "
        "organisations of the partner directory, instead of refusing the start",
    )
    start.add_argument(
        "--officer",
        help="who starts it: the actor of convention_started and of the directory's changes",
    )
    start.add_argument(
        "--history-limit",
        type=_history_limit,
        metavar="N",
        help="continue-as-new once a run's history has N events (at least 50; default 10,000)",
    )

    status = commands.add_parser("status", help="stage, open tasks and timeline of a convention")
    status.add_argument("convention_id")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=None,
        help="tasks and milestones in this language (default: the environment's, English when "
        "unset); --json carries kinds and details",
    )
    status.add_argument(
        "--all",
        action="store_true",
        help=f"the whole timeline (default: the last {STATUS_TIMELINE_SHOWN} milestones)",
    )
    status.add_argument(
        "--zone",
        type=zone_option,
        default=DEFAULT_ZONE,
        metavar="AREA/CITY",
        help="the reader's IANA time zone for the times, the due dates and the days the "
        "milestones name (default: UTC); --json stays ISO UTC",
    )

    act = commands.add_parser("act", help="answer a task on behalf of a party")
    act.add_argument("convention_id")
    act.add_argument("task_id")
    act.add_argument("--as", dest="party", required=True, help="the acting party's id")
    act.add_argument("--actor", help="the person acting for the party")
    act.add_argument(
        "--officer",
        help=(
            "the officer entering the answer, recorded as 'entered by officer <name> on "
            "behalf of <party>' (default: your login name)"
        ),
    )
    answer = act.add_mutually_exclusive_group()
    answer.add_argument("--answer", help="answer fields as a JSON object")
    answer.add_argument(
        "--answer-file",
        metavar="FILE",
        help="answer fields from a JSON or YAML file, or '-' for stdin (a long answer)",
    )
    act.add_argument("--decision", help="approve, request_changes, sign, refuse, agree…")
    act.add_argument("--comments")
    act.add_argument("--reason")
    act.add_argument("--version", type=int, help="the draft version reviewed")
    act.add_argument(
        "--file",
        type=Path,
        metavar="PATH",
        help=(
            "a file stored with the answer (a new version of the text, a report, an "
            "attachment): its reference, hash, size and type are filled in from the stored file"
        ),
    )
    act.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other answer field; VALUE is read as JSON when it parses, else as text",
    )

    listing = commands.add_parser("list", help="conventions, from Temporal's visibility")
    for name in ("stage", "party", "kind", "country", "sector"):
        listing.add_argument(f"--{name}", help=f"only conventions with this {name}")
    listing.add_argument(
        "--state",
        choices=[state.value for state in ConventionState],
        help="only conventions in this state (Temporal's own status for those ended outside)",
    )
    listing.add_argument("--parent", help="only the specific conventions of this framework")
    listing.add_argument("--query", help="an extra Temporal visibility query")

    postpone = commands.add_parser("postpone", help="move an open task's due date later")
    postpone.add_argument("convention_id")
    postpone.add_argument("task_id")
    postpone.add_argument(
        "--to", dest="new_due", required=True, help="new due date: YYYY-MM-DD or an ISO time"
    )
    postpone.add_argument("--reason", required=True)
    postpone.add_argument("--officer", help="who decides, for the record")

    reassign = commands.add_parser("reassign", help="give a task to another contact of its party")
    reassign.add_argument("convention_id")
    reassign.add_argument("task_id")
    reassign.add_argument("--to", dest="contact", required=True, help="the contact's name")
    reassign.add_argument("--reason", required=True)
    reassign.add_argument("--officer")

    terminate = commands.add_parser("terminate", help="end a convention now, with a reason")
    terminate.add_argument("convention_id")
    terminate.add_argument("--reason", required=True)
    terminate.add_argument("--officer")

    change_officer_command = commands.add_parser(
        "change-officer", help="make another person the convention's responsible officer"
    )
    change_officer_command.add_argument("convention_id")
    change_officer_command.add_argument("--name", required=True, help="the new officer's name")
    change_officer_command.add_argument(
        "--email", required=True, help="the new officer's address (escalations go to it)"
    )
    change_officer_command.add_argument("--language", default="fr", choices=["fr", "ar", "en"])
    change_officer_command.add_argument("--reason", default="", help="why, for the record")
    change_officer_command.add_argument("--officer", help="who makes the change, for the record")

    inbox = commands.add_parser(
        "inbox", help="the tasks a party owes across every convention, overdue first"
    )
    inbox.add_argument("party", help="the party's id, as in the convention files")
    inbox.add_argument("--json", action="store_true", help="machine-readable output")

    keys = commands.add_parser("keys", help="partners' API keys for the partner desk")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="a new key for a party, printed once")
    create.add_argument("party", help="the party's id, as in the convention files")
    create.add_argument("--name", help="what the key is for (default: the party's system)")
    key_list = key_commands.add_parser("list", help="every key, or a party's; never a secret")
    key_list.add_argument("party", nargs="?")
    revoke = key_commands.add_parser("revoke", help="the key stops working at once")
    revoke.add_argument("key_id")

    users = commands.add_parser("users", help="office accounts (officers, auditors, admins)")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    user_create = user_commands.add_parser(
        "create", help="a new account; prints a one-time initial password"
    )
    user_create.add_argument("email")
    user_create.add_argument("--name", required=True)
    user_create.add_argument("--role", required=True, choices=("officer", "auditor", "admin"))
    user_create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the initial password from stdin (one line) instead of printing a new one",
    )
    user_commands.add_parser("list", help="every account; never a secret")
    disable = user_commands.add_parser("disable", help="the account signs in no more")
    disable.add_argument("email")
    reset = user_commands.add_parser(
        "reset-factor",
        help="forget the account's authenticator and recovery codes; set up again at sign-in",
    )
    reset.add_argument("email")

    report = commands.add_parser("report", help="the office's portfolio figures")
    report.add_argument("--format", choices=("text", "json", "csv"), default="text")
    report.add_argument("--table", choices=PORTFOLIO_TABLES, help="one table only")
    directory_arguments.register(commands)
    return parser


def _history_limit(text: str) -> int:
    """--history-limit: an integer the workflow accepts (ConventionInput.history_limit)."""
    from schemas.status import ConventionInput

    floor = ConventionInput.model_fields["history_limit"].metadata[0].ge
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from error
    if value < floor:
        raise argparse.ArgumentTypeError(f"{value} is below {floor}, the smallest history limit")
    return value


async def _open_store(settings: Settings) -> asyncpg.Pool:
    """A small pool on Pacte's database, its tables migrated (a fresh database gets them)."""
    import asyncpg

    from infra.database import apply_migrations, create_pool
    from infra.embedded import embedded_postgres_url

    try:
        database_url = settings.database_url or embedded_postgres_url(settings.state_dir)
        pool = await create_pool(database_url, max_size=2)
    except (OSError, RuntimeError, asyncpg.PostgresError) as error:
        raise DatabaseUnavailable(f"DATABASE_URL: PostgreSQL does not answer: {error}") from error
    try:
        await apply_migrations(pool)
    except BaseException:
        await pool.close()
        raise
    return pool


async def _start(args: argparse.Namespace, settings: Settings) -> int:
    """Start a convention from its file, unless its id already ran (in Temporal or here)."""
    from application.conventions import start_convention
    from application.directory.editors import Editor, EditorRole
    from application.directory.import_proposal import parties_imported
    from application.directory.officers import officer_person
    from application.errors import PacteError
    from infra.temporal_client import connect

    convention = load_convention(args.file)  # refused here: nothing starts
    client = await connect(settings)
    pool = await _open_store(settings)
    accept = args.accept_directory_changes
    editor = Editor(
        args.officer or _login_name(), EditorRole.ADMIN if accept else EditorRole.OFFICER
    )
    try:
        # Who pressed Start, a directory person: named in the record as the directory has
        # them (an address typed as --officer finds the person an admin may have named).
        officer = await officer_person(pool, editor.name)
        # The file's parties, as a proposal to the partner directory: refused (nothing
        # started) when it would change an existing organisation, unless accepted.
        async with parties_imported(pool, editor, convention, accept=accept) as proposal:
            workflow_id = await start_convention(
                client,
                convention,
                settings.task_queue,
                milestones=pool,
                history_limit=args.history_limit,
                require_parent=not args.allow_missing_parent,
                started_by=recorded_officer(officer)[:200],
            )
    except PacteError as error:
        raise InputError(str(args.file), error.errors or [FieldError("", error.detail)]) from None
    finally:
        await pool.close()
    if accept:  # what the admin accepted, said; otherwise the change log keeps it (`parties show`)
        for line in proposal.lines():
            print(f"directory: {line}", file=sys.stderr)
    print(workflow_id)
    return EXIT_OK


async def _status(client: Client, args: argparse.Namespace, settings: Settings) -> int:
    """The workflow's view, with what Temporal says when the workflow cannot move on."""
    from temporalio.client import WorkflowExecutionStatus

    from application.conventions import (
        QUERY_TIMEOUT,
        ConventionUnreadable,
        convention_status,
        workflow_health,
    )
    from application.rendering import render_status
    from rendering.catalogues import language_from_environment

    health = await workflow_health(client, args.convention_id)
    if health.trouble:
        raise ConventionUnreadable(f"convention {args.convention_id}: {health.trouble}")
    try:
        status = await convention_status(client, args.convention_id, rpc_timeout=QUERY_TIMEOUT)
    except ConventionUnreadable as error:
        if health.execution_status is WorkflowExecutionStatus.RUNNING:
            raise
        raise ConventionUnreadable(
            f"{error} (its execution is {health.execution_status.name.lower()} in Temporal)"
        ) from error
    last = None if args.all else STATUS_TIMELINE_SHOWN
    language = args.lang or language_from_environment()
    party_ids = sorted(
        {task.assignee for task in status.open_tasks}
        | {m.party for m in status.milestones if m.party}
    )
    recorded, archive_lines, names = await _recorded_lines(
        settings, args.convention_id, last, party_ids, language
    )
    timeline = None if recorded is None else recorded.with_unwritten(status.milestones)
    if args.json:
        # PostgreSQL's timeline when it answers (its latest, or --all), else the workflow's.
        shown = (
            status
            if timeline is None
            else status.model_copy(
                update={"milestones": timeline.milestones, "milestone_count": timeline.total}
            )
        )
        print(shown.model_dump_json(indent=2))
        return EXIT_OK
    execution = health.execution_status
    ended_outside = (
        status.state is ConventionState.ACTIVE and execution is not WorkflowExecutionStatus.RUNNING
    )
    print(
        render_status(
            status,
            ended_by_temporal=execution.name.lower() if ended_outside else None,
            timeline=timeline,
            language=language,
            names=names,
            zone=args.zone,
        )
    )
    for line in archive_lines:
        print(line)
    return EXIT_OK


async def _terminate(client: Client, args: argparse.Namespace, settings: Settings) -> int:
    """End the convention: through its workflow, or through Temporal when the workflow is stuck."""
    from application.conventions import end_convention
    from schemas.contract import workflow_id_for
    from schemas.officer_actions import TerminateConvention

    request = parse_model(
        TerminateConvention, {"reason": args.reason, "officer": args.officer}, "terminate"
    )
    pool = await _open_store(settings)  # before anything: the fallback must be able to record
    try:
        ended = await end_convention(client, args.convention_id, request, pool)
    finally:
        await pool.close()
    if ended.by_temporal:
        print(
            f"terminate: the workflow could not take the update ({ended.by_temporal}); "
            f"Temporal terminated {workflow_id_for(args.convention_id)} with the reason, and "
            f"milestone #{ended.milestone_seq} convention_terminated is recorded in PostgreSQL"
        )
    print(f"terminate: {args.convention_id} at {ended.receipt.applied_at:%Y-%m-%d %H:%M:%S %Z}")
    return EXIT_OK


async def _change_officer(client: Client, args: argparse.Namespace, settings: Settings) -> int:
    """Make another person the responsible officer, in the name of `--officer` (a directory
    person, as for every officer's command) or the login name."""
    from application.conventions import UPDATE_TIMEOUT, change_officer
    from application.directory.officers import officer_person
    from schemas.officer_actions import ChangeOfficer

    officer = args.officer or _login_name()
    request = parse_model(
        ChangeOfficer,
        {
            "name": args.name,
            "email": args.email,
            "language": args.language,
            "reason": args.reason,
            "officer": officer,
        },
        "change-officer",
    )
    pool = await _open_store(settings)
    try:
        await officer_person(pool, officer)
    finally:
        await pool.close()
    async with _said_what_is_stuck(client, args.convention_id):
        applied = await change_officer(
            client, args.convention_id, request, rpc_timeout=UPDATE_TIMEOUT
        )
    print(
        f"change-officer: {args.convention_id} now has {request.name} <{request.email}> as its "
        f"responsible officer, at {applied.applied_at:%Y-%m-%d %H:%M:%S %Z}"
    )
    return EXIT_OK


async def _keys(args: argparse.Namespace, settings: Settings) -> int:
    """Create, list or revoke a party's API keys (PostgreSQL only); a secret is shown once."""
    from application.errors import NotFound as DeskNotFound
    from application.partner import create_key, list_keys, revoke_key

    party = getattr(args, "party", None)
    if party is not None and not IDENTIFIER_PATTERN.match(party):
        raise InputError(
            "keys", [FieldError("party", f"{party!r} is not a party id (letters, digits, . _ -)")]
        )
    pool = await _open_store(settings)
    try:
        if args.keys_command == "create":
            secret, key = await create_key(pool, args.party, args.name or f"{args.party} system")
            print(f"key {key.id} for {key.party} ({key.name}); shown once, store it now:")
            print(secret)
        elif args.keys_command == "list":
            for key in await list_keys(pool, party):
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
                print(f"{key.id}  {key.party:<12} {state:<18} used {used:<16} {key.name}")
        else:
            try:
                key = await revoke_key(pool, args.key_id)
            except DeskNotFound as error:
                raise InputError("keys revoke", [FieldError("key_id", str(error))]) from None
            print(f"revoked: {key.id} ({key.party}, {key.name})")
    finally:
        await pool.close()
    return EXIT_OK


async def _users(args: argparse.Namespace, settings: Settings) -> int:
    """Create, list or disable office accounts (PostgreSQL only); a password is shown once."""
    from application.office.accounts import (
        UserError,
        create_user,
        disable_user,
        list_users,
        new_password,
        reset_second_factor,
    )

    password = None
    if args.users_command == "create":
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else new_password()
    pool = await _open_store(settings)
    try:
        if args.users_command == "create":
            assert password is not None
            user = await create_user(pool, args.email, args.name, args.role, password)
            print(f"account {user.email} ({user.role.value}, {user.name}) created")
            if not args.password_stdin:
                print(
                    "initial password, shown once (the second factor is set up at first sign-in):"
                )
                print(password)
        elif args.users_command == "list":
            for user in await list_users(pool):
                state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active"
                factor = "totp" if user.enrolled else "-"
                print(f"{user.email:<40} {user.role.value:<8} {state:<20} {factor:<5} {user.name}")
        elif args.users_command == "reset-factor":
            user = await reset_second_factor(pool, args.email)
            print(
                f"second factor reset: {user.email} (its sessions ended; the next sign-in "
                "sets up an authenticator)"
            )
        else:
            user = await disable_user(pool, args.email)
            print(f"disabled: {user.email} (its sessions ended)")
    except UserError as error:
        field, _, reason = str(error).partition(": ")
        raise InputError(f"users {args.users_command}", [FieldError(field, reason)]) from None
    finally:
        await pool.close()
    return EXIT_OK


async def _report(args: argparse.Namespace, settings: Settings) -> int:
    """The portfolio's figures, from the same queries as the office desk's pages."""
    from application.office.portfolio import (
        backfill_convention_files,
        portfolio,
        portfolio_json,
        table_csv,
    )
    from infra.temporal_client import TemporalUnavailable, connect

    pool = await _open_store(settings)
    try:
        try:  # the files of conventions started without one, from Temporal when it answers
            await backfill_convention_files(pool, await connect(settings))
        except TemporalUnavailable:
            print(
                "report: Temporal unreachable: conventions without a recorded file show no "
                "title, country or sector",
                file=sys.stderr,
            )
        tables = await portfolio(pool)
    finally:
        await pool.close()
    if args.table:
        tables = {args.table: tables[args.table]}
    if args.format == "json":
        print(portfolio_json(tables))
        return EXIT_OK
    for name, rows in tables.items():
        if args.format == "csv":
            if len(tables) > 1:
                print(f"# {name}")
            sys.stdout.write(table_csv(rows))
            if len(tables) > 1:
                print()
            continue
        print(f"== {name} ==")
        if not rows:
            print("(none)")
        else:
            columns = list(rows[0])
            cells = [[_cell(row[c]) for c in columns] for row in rows]
            widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
            print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
            for line in cells:
                print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))
        print()
    return EXIT_OK


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d}"
    return str(value)


async def _inbox(party: str, as_json: bool, settings: Settings) -> int:
    """Print what a party owes, read from PostgreSQL (the workflows need not be reachable)."""
    from storage.inbox import owed_tasks

    if not IDENTIFIER_PATTERN.match(party):
        raise InputError(
            "inbox", [FieldError("party", f"{party!r} is not a party id (letters, digits, . _ -)")]
        )
    pool = await _open_store(settings)
    try:
        now = datetime.now(UTC)
        entries = await owed_tasks(pool, party, now)
    finally:
        await pool.close()
    if as_json:
        print(
            json.dumps([e.model_dump(mode="json") for e in entries], indent=2, ensure_ascii=False)
        )
        return EXIT_OK
    if not entries:
        print(f"{party} owes no open task")
        return EXIT_OK
    overdue = sum(entry.overdue for entry in entries)
    print(f"{party} owes {len(entries)} task(s), {overdue} overdue")
    for entry in entries:
        flag = "OVERDUE" if entry.overdue else ""
        print(
            f"{flag:<8} {entry.due_at:%Y-%m-%d}  {entry.convention_id}  {entry.task_id}"
            f"  ({entry.kind})  {entry.title}"
        )
    return EXIT_OK


async def _recorded_lines(
    settings: Settings,
    convention_id: str,
    last: int | None,
    party_ids: list[str] | None = None,
    language: str = "en",
) -> tuple[RecordedTimeline | None, list[str], PartyNames | None]:
    """The convention's latest `last` milestones (None: all; the result is None when
    PostgreSQL does not answer), the lines saying how many of its closed runs are
    archived, and each that could not be, and the parties' names in `language` (the
    directory's; None when PostgreSQL does not answer: ids are said then)."""
    import asyncpg

    from application.directory.names import file_name
    from infra.database import create_pool
    from infra.embedded import embedded_postgres_url
    from records.archive_store import ArchiveUnavailable, open_archive
    from rendering.record import directory_people
    from storage.archive_failures import open_failures
    from storage.convention_overview import file_languages
    from storage.milestones import recorded_timeline

    try:
        database_url = settings.database_url or embedded_postgres_url(settings.state_dir)
        pool = await create_pool(database_url, max_size=2)
    except (OSError, RuntimeError, asyncpg.PostgresError) as error:
        return None, [f"archive: not checked, PostgreSQL does not answer: {error}"], None
    names: PartyNames | None = None
    try:
        timeline = await recorded_timeline(pool, convention_id, last=last)
        ids = sorted(set(party_ids or []) | {m.party for m in timeline.milestones if m.party})
        people = directory_people(m.details for m in timeline.milestones)
        # The file's names where the directory holds none, in `language` when it gave it.
        declared = (await file_languages(pool, convention_id))[1]
        written = {str(party["id"]): file_name(party, language) for party in declared}
        names = await _directory_names(pool, ids, language, people, written)
        store = open_archive(settings.archive, pool, database_url)
        entries = await store.entries(convention_id)
        failures = await open_failures(pool, convention_id)
    except ArchiveUnavailable as error:
        return timeline, [f"archive: not checked: {error}"], names
    except asyncpg.PostgresError as error:
        return None, [f"archive: not checked: {error}"], names
    finally:
        await pool.close()
    # Said when there is something to say: a running convention has nothing archived yet.
    lines = (
        [
            f"archive: {len(entries)} closed run(s) archived, the last at "
            f"{entries[-1].archived_at:%Y-%m-%d %H:%M} UTC ({store.description})"
        ]
        if entries
        else []
    )
    lines += [
        f"archive: NOT ARCHIVED run {failure.run_id}: {failure.error} ({failure.attempts} "
        f"attempt(s) since {failure.first_failed_at:%Y-%m-%d %H:%M} UTC; retried by every sweep)"
        for failure in failures
    ]
    return timeline, lines, names


async def _directory_names(
    pool: asyncpg.Pool,
    party_ids: list[str],
    language: str,
    person_ids: list[str] | None = None,
    written: dict[str, str] | None = None,
) -> PartyNames:
    """The directory's names of these parties in `language` (else the file's, `written`;
    an id neither holds stays), and of the people who answered (a person it does not
    hold: the recorded name)."""
    import asyncpg

    from application.directory.names import names_of
    from rendering.record import PartyNames

    try:
        held = await names_of(pool, party_ids, person_ids, written=written)
    except asyncpg.UndefinedTableError:  # a database from before the directory
        return PartyNames()
    return PartyNames.of(
        {party: held.organisation(party, language) for party in party_ids}, held.people_names()
    )


def recorded_officer(person: DirectoryPerson) -> str:
    """How the record names the command line's officer: the directory's name, with the
    address when it has one beside a name (`Name <address>`, as the office desk says who
    pressed Start)."""
    if person.email and person.email != person.name:
        return f"{person.name} <{person.email}>"
    return person.name


def _answer_file(name: str) -> dict[str, Any]:
    """--answer-file: a JSON or YAML mapping, from a file or from stdin ('-')."""
    source = "stdin" if name == "-" else name
    if name == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except OSError as error:
            raise InputError(
                "--answer-file", [FieldError("", f"{name}: cannot read file: {error.strerror}")]
            ) from error
        except UnicodeDecodeError as error:
            raise InputError(
                "--answer-file", [FieldError("", f"{name}: not UTF-8 text")]
            ) from error
    parsed = parse_document(text, source, as_json=name.lower().endswith(".json"))
    if not isinstance(parsed, dict):
        raise InputError("--answer-file", [FieldError("answer", f"{source}: must be a mapping")])
    return parsed


def _answer_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if args.answer_file:
        fields.update(_answer_file(args.answer_file))
    if args.answer:
        try:
            parsed = json.loads(args.answer)
        except json.JSONDecodeError as error:
            raise InputError(
                "--answer", [FieldError("answer", f"not JSON: {error.msg}")]
            ) from error
        if not isinstance(parsed, dict):
            raise InputError("--answer", [FieldError("answer", "must be a JSON object")])
        fields.update(parsed)
    for name in ("decision", "comments", "reason", "version"):
        value = getattr(args, name)
        if value is not None:
            fields[name] = value
    for assignment in args.set:
        name, separator, raw = assignment.partition("=")
        if not separator or not name:
            raise InputError(
                "--set", [FieldError("set", f"expected FIELD=VALUE, got {assignment!r}")]
            )
        try:
            fields[name] = json.loads(raw)
        except json.JSONDecodeError:
            fields[name] = raw
    return fields


async def _run(args: argparse.Namespace) -> int:
    if args.command == "validate":
        convention = load_convention(args.file)
        print(
            f"ok: {convention.id} ({convention.kind.value}), stages: "
            + ", ".join(spec.stage for spec in convention.stages)
        )
        return EXIT_OK
    if args.command == "schema":
        from pydantic import TypeAdapter

        from schemas.convention import Convention
        from schemas.tasks import AnswerTask

        model: Any = AnswerTask if args.answer else Convention
        print(json.dumps(TypeAdapter(model).json_schema(), indent=2, ensure_ascii=False))
        return EXIT_OK

    from infra.settings import load_settings

    settings = load_settings()
    if args.command == "inbox":
        return await _inbox(args.party, args.json, settings)
    if args.command == "keys":
        return await _keys(args, settings)
    if args.command == "users":
        return await _users(args, settings)
    if args.command == "report":
        return await _report(args, settings)
    if args.command == "start":
        return await _start(args, settings)
    if args.command == "parties":
        from application.directory import cli as directory_cli

        return await directory_cli.run(
            args,
            lambda: _open_store(settings),
            _login_name(),
            settings.state_dir,
            settings.delivery.secrets_file,
        )
    # The answer is read and checked before Temporal is asked anything.
    answer_fields = _answer_fields(args) if args.command == "act" else {}
    from application.conventions import (
        UPDATE_TIMEOUT,
        ConventionFilter,
        answer_open_task,
        list_conventions,
    )
    from infra.temporal_client import connect

    client = await connect(settings)
    if args.command == "status":
        return await _status(client, args, settings)
    if args.command == "terminate":
        return await _terminate(client, args, settings)
    if args.command == "change-officer":
        return await _change_officer(client, args, settings)
    if args.command == "act" and args.file is not None:
        receipt = await _act_with_file(client, args, answer_fields, settings)
        print(f"accepted: {receipt.task_id} at {receipt.accepted_at:%Y-%m-%d %H:%M:%S %Z}")
    elif args.command == "act":
        async with _said_what_is_stuck(client, args.convention_id):
            receipt = await answer_open_task(
                client,
                args.convention_id,
                args.task_id,
                args.party,
                answer_fields,
                actor=args.actor,
                principal=await _officer_on_behalf(client, args, settings),
                rpc_timeout=UPDATE_TIMEOUT,
            )
        print(f"accepted: {receipt.task_id} at {receipt.accepted_at:%Y-%m-%d %H:%M:%S %Z}")
    elif args.command == "list":
        conventions = ConventionFilter(
            stage=args.stage,
            party=args.party,
            kind=args.kind,
            country=args.country,
            sector=args.sector,
            state=args.state,
            parent=args.parent,
        )
        for summary in await list_conventions(client, conventions, args.query):
            started = f"{summary.started_at:%Y-%m-%d %H:%M}" if summary.started_at else ""
            print(
                f"{summary.convention_id:<40} {summary.status:<10} {summary.stage or '':<16}"
                f" {started}  {', '.join(summary.parties)}"
            )
    elif args.command in ("postpone", "reassign"):
        async with _said_what_is_stuck(client, args.convention_id):
            applied = await _officer_action(client, args)
        print(
            f"{applied.action}: {applied.task_id or args.convention_id} "
            f"at {applied.applied_at:%Y-%m-%d %H:%M:%S %Z}"
        )
    return EXIT_OK


async def _act_with_file(
    client: Client, args: argparse.Namespace, fields: dict[str, Any], settings: Settings
) -> Any:
    """`act … --file PATH`: the file stored (PostgreSQL or S3), then the answer sent."""
    from application.conventions import UPDATE_TIMEOUT, officer_on_behalf
    from application.documents import Upload, answer_with_file

    path: Path = args.file
    try:
        content = await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        raise InputError("--file", [FieldError("file", f"{path}: {error.strerror}")]) from None
    pool = await _open_store(settings)
    try:
        async with _said_what_is_stuck(client, args.convention_id):
            return await answer_with_file(
                pool,
                client,
                args.convention_id,
                args.task_id,
                args.party,
                fields,
                Upload(content, path.name, "file"),
                actor=args.actor,
                principal=officer_on_behalf(args.officer or _login_name(), args.party),
                rpc_timeout=UPDATE_TIMEOUT,
            )
    finally:
        await pool.close()


@asynccontextmanager
async def _said_what_is_stuck(client: Client, convention_id: str) -> AsyncIterator[None]:
    """A workflow that did not answer in time: say why, as `status` does, when Temporal knows."""
    from application.conventions import ConventionUnreadable, workflow_health

    try:
        yield
    except ConventionUnreadable as error:
        health = await workflow_health(client, convention_id)
        if health.trouble is None:
            raise
        raise ConventionUnreadable(f"convention {convention_id}: {health.trouble}") from error


async def _officer_on_behalf(
    client: Client, args: argparse.Namespace, settings: Settings
) -> Principal:
    """The officer answering for `--as PARTY`, checked against the directory now (refused
    while it has the organisation archived); the answer records the version checked."""
    from application.conventions import UPDATE_TIMEOUT, find_task, officer_on_behalf
    from application.directory.authority import system_authority
    from application.directory.officers import officer_person

    principal = officer_on_behalf(args.officer or _login_name(), args.party)
    task = await find_task(client, args.convention_id, args.task_id, rpc_timeout=UPDATE_TIMEOUT)
    pool = await _open_store(settings)
    try:
        await officer_person(pool, principal.name)  # who entered the answer, a directory person
        check = (await system_authority(pool, args.party)).check(task.kind.value)
    finally:
        await pool.close()
    return principal.model_copy(update={"directory": check})


async def _officer_action(client: Client, args: argparse.Namespace) -> OfficerReceipt:
    """Validate the officer's action locally (field errors), then send it as an update."""
    from application.conventions import UPDATE_TIMEOUT, postpone_deadline, reassign_task
    from schemas.officer_actions import PostponeDeadline, ReassignTask

    if args.command == "postpone":
        request = parse_model(
            PostponeDeadline,
            {
                "task_id": args.task_id,
                "new_due_at": _due_time(args.new_due),
                "reason": args.reason,
                "officer": args.officer,
            },
            "postpone",
        )
        return await postpone_deadline(
            client, args.convention_id, request, rpc_timeout=UPDATE_TIMEOUT
        )
    reassignment = parse_model(
        ReassignTask,
        {
            "task_id": args.task_id,
            "contact": args.contact,
            "reason": args.reason,
            "officer": args.officer,
        },
        "reassign",
    )
    return await reassign_task(client, args.convention_id, reassignment, rpc_timeout=UPDATE_TIMEOUT)


def _due_time(text: str) -> str:
    """A bare date means the end of that day, UTC; a time without zone is UTC."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as error:
            raise InputError(
                "--to", [FieldError("new_due_at", f"{text!r} is not a date or an ISO time")]
            ) from error
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
    return datetime.combine(day, time(23, 59), tzinfo=UTC).isoformat()


def _login_name() -> str:
    """Who runs the command, for the record when no --officer is given."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER variable and no password entry (a bare container)
        return "unknown officer"


def main(argv: list[str] | None = None) -> int:
    """Run one command; user mistakes become one line each on stderr and a non-zero code."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except Exception as error:  # said by its rule (application/cli_support.py), or re-raised
        return STARTER_ERRORS.report(error)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # A short-lived Temporal client can abort at interpreter exit (sdk-python issue 300):
    # leave directly with the code we mean.
    os._exit(code)
