"""The auditors' command line: replay, export, timeline and verify conventions' histories,
and archive them; for funders and inspectors, IATI activities, the audit report and bundles.

Histories come from Temporal and, for the runs Temporal no longer has, from the archive
(`--source auto`, the default), or from one of them (`--source temporal|archive`), or from
files (`--file`). Exit codes: 0 all good; 1 a failure found (a history that no longer
replays, a milestone missing, extra or different, a broken hash chain, an archived entry
altered or missing, a run not archived); 2 usage error (unknown option, invalid id or query,
a file that is not a history); 3 Temporal or PostgreSQL unavailable; 4 convention (or file)
not found.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from application.cli_support import (
    DatabaseUnavailable,
    ExitCode,
    UsageError,
    audit_errors,
    zone_option,
)
from rendering.catalogues import LANGUAGES, language_from_environment
from rendering.zones import DEFAULT_ZONE

if TYPE_CHECKING:
    import asyncpg
    from temporalio.client import Client
    from temporalio.converter import DataConverter

    from auditing.bundle import BundledDocument
    from auditing.histories import ConventionHistory, HistorySource
    from auditing.iati import ConventionRecord
    from infra.settings import Settings
    from records.archive_store import ArchiveStore
    from schemas.archive import ArchiveBatchReport, ArchiveFailure
    from schemas.audit import ReplayResult, VerifyReport

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_NOT_FOUND = (
    ExitCode.OK,
    ExitCode.REFUSED,
    ExitCode.USAGE,
    ExitCode.UNAVAILABLE,
    ExitCode.NOT_FOUND,
)
AUDIT_ERRORS = audit_errors()
FETCH_CONCURRENCY = 8
TIMELINE_FORMATS = ("csv", "html", "json", "text")
"""`timeline --format`: the parser offers them without loading their renderers."""


def renderers() -> dict[str, Callable[..., str]]:
    """`timeline`'s renderer of each format."""
    from auditing.html_report import render_html
    from auditing.timeline import render_csv, render_json, render_text

    return {"text": render_text, "json": render_json, "csv": render_csv, "html": render_html}


SOURCES = ("auto", "temporal", "archive")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One readable line instead of argparse's usage block.
        raise UsageError(f"{message} (see `python {self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    """Every command and option of `audit.py`."""
    parser = _Parser(prog="audit.py", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    replay = commands.add_parser("replay", help="replay histories against this code")
    replay.add_argument("convention_ids", nargs="*", metavar="ID", help="conventions to replay")
    replay.add_argument("--all", action="store_true", help="every convention known")
    replay.add_argument("--query", help="conventions matching a Temporal visibility query")
    _add_file_option(replay)
    _add_source_option(replay)
    replay.add_argument("--json", action="store_true", help="one JSON result per line")
    replay.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar on stderr (default: when stderr is a terminal)",
    )

    export = commands.add_parser("export", help="write every run's history as JSON files")
    export.add_argument("convention_id", metavar="ID")
    export.add_argument("--out", type=Path, required=True, metavar="DIR")
    _add_source_option(export)

    timeline = commands.add_parser("timeline", help="who did what, when, from the history")
    timeline.add_argument("convention_id", nargs="?", metavar="ID")
    timeline.add_argument("--format", choices=TIMELINE_FORMATS, default="text")
    timeline.add_argument("--out", type=Path, metavar="FILE", help="write here, not stdout")
    timeline.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=None,
        help="the reader's language (default: the environment's, English when unset): the "
        "text and HTML, and the CSV's `text` column; json carries kinds and details",
    )
    _add_zone_option(
        timeline, "the text and HTML times, and the days the lines name (the CSV's `text` too)"
    )
    _add_file_option(timeline)
    _add_source_option(timeline)

    verify = commands.add_parser("verify", help="PostgreSQL's milestones against the history")
    verify.add_argument("convention_ids", nargs="*", metavar="ID")
    verify.add_argument("--all", action="store_true", help="every convention, either side")
    _add_file_option(verify)
    _add_source_option(verify)
    verify.add_argument("--json", action="store_true", help="one JSON report per line")

    archive = commands.add_parser(
        "archive", help="archive closed runs now (the worker's sweep does it every few minutes)"
    )
    archive.add_argument("convention_ids", nargs="*", metavar="ID")
    archive.add_argument("--all", action="store_true", help="every closed run not archived yet")
    archive.add_argument(
        "--failures", action="store_true", help="list the runs that could not be archived"
    )

    iati = commands.add_parser(
        "iati", help="conventions as an IATI 2.03 activities file (PACTE_IATI_ORG_REF)"
    )
    iati.add_argument("convention_ids", nargs="*", metavar="ID")
    iati.add_argument("--all", action="store_true", help="every convention known")
    iati.add_argument("--out", type=Path, metavar="FILE.xml", help="write here, not stdout")
    iati.add_argument(
        "--no-validate", action="store_true", help="skip the check against the 2.03 XSDs"
    )
    _add_source_option(iati)

    report = commands.add_parser(
        "report", help="the audit report (PDF), and an inspector's bundle with --bundle"
    )
    report.add_argument("convention_id", metavar="ID")
    report.add_argument("--out", type=Path, metavar="FILE.pdf", help="write the PDF here")
    report.add_argument(
        "--bundle", type=Path, metavar="DIR", help="histories, milestones, report, manifest"
    )
    report.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=None,
        help="the report's language (default: the environment's, English when unset)",
    )
    _add_zone_option(report, "the report's times, and the days its lines name")
    _add_source_option(report)

    check = commands.add_parser(
        "check-bundle", help="check a bundle offline: replay, chain, agreement, report's hashes"
    )
    check.add_argument("directory", type=Path, metavar="DIR")
    check.add_argument(
        "--trust",
        type=Path,
        nargs="+",
        metavar="ROOT.pem",
        help="the roots the sealed original and the timestamp tokens must chain to "
        "(default: the bundle's own certificates/)",
    )
    return parser


def _add_zone_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--zone",
        type=zone_option,
        default=DEFAULT_ZONE,
        metavar="AREA/CITY",
        help=f"the reader's IANA time zone for {what} (default: UTC, said in the header); "
        "the CSV's `at` and the JSON stay ISO UTC",
    )


def _add_source_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="auto",
        help="temporal, the archive, or Temporal then the archive for the runs it no longer "
        "has (auto, the default)",
    )


def _add_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file",
        nargs="+",
        type=Path,
        metavar="HISTORY.json",
        help="read histories from files (or directories of them), not from Temporal",
    )


class Progress:
    """A one-line progress bar on a terminal; silent otherwise (logs stay clean)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.done, self.stream, self.enabled = total, 0, stream, enabled

    def advance(self, label: str) -> None:
        """One more item done."""
        self.done += 1
        if self.enabled:
            filled = int(30 * self.done / max(self.total, 1))
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {label[:40]:<40}"
            )
            self.stream.flush()

    def clear(self) -> None:
        """Wipe the bar before a result line is printed."""
        if self.enabled:
            self.stream.write("\r" + " " * 80 + "\r")
            self.stream.flush()


class _Session:
    """What a command connects to, each opened when first needed and closed at the end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._pool: asyncpg.Pool | None = None
        self._database_url: str | None = None

    async def client(self) -> Client:
        """The Temporal client."""
        from infra.temporal_client import connect

        if self._client is None:
            self._client = await connect(self.settings)
        return self._client

    async def pool(self) -> asyncpg.Pool:
        """A small pool on Pacte's PostgreSQL."""
        import asyncpg

        from infra.database import create_pool
        from infra.embedded import embedded_postgres_url

        if self._pool is None:
            try:
                url = self.settings.database_url or embedded_postgres_url(self.settings.state_dir)
                self._pool = await create_pool(url, max_size=2)
            except (OSError, asyncpg.PostgresError) as error:
                raise DatabaseUnavailable(f"PostgreSQL: {error}") from error
            self._database_url = url
        return self._pool

    async def archive(self) -> ArchiveStore:
        """The configured archive: PACTE_ARCHIVE_DIR, or PostgreSQL's history_archive."""
        from records.archive_store import DirectoryArchive, PostgresArchive, describe_database

        if self.settings.archive.directory is not None:
            return DirectoryArchive(self.settings.archive.directory)
        pool = await self.pool()
        return PostgresArchive(pool, describe_database(self._database_url or ""))

    def trust_roots(self) -> list[Path]:
        """The roots the timestamp tokens and the seal must chain to (PACTE_TRUST_ROOTS, else
        the embedded stack's development CA)."""
        from documents.settings import load_document_settings, trust_roots

        return trust_roots(
            load_document_settings(self.settings.environment), self.settings.state_dir
        )

    async def close(self) -> None:
        """Close the pool (the client has nothing to close)."""
        if self._pool is not None:
            await self._pool.close()


async def _source(args: argparse.Namespace, session: _Session) -> HistorySource:
    from auditing.archive_source import ArchiveHistories, CombinedHistories
    from auditing.histories import FileHistories, TemporalHistories, check_convention_id
    from infra.temporal_client import data_converter

    # A mistyped id is a usage error, whether or not a server answers.
    for convention_id in getattr(args, "convention_ids", None) or []:
        check_convention_id(convention_id)
    if getattr(args, "convention_id", None):
        check_convention_id(args.convention_id)
    if getattr(args, "file", None):
        return await FileHistories.load(args.file, data_converter(session.settings))
    if args.source == "archive":
        return ArchiveHistories(await session.archive())
    # Temporal first: unreachable, it is the one reported (and nothing else is started).
    temporal = TemporalHistories(await session.client())
    if args.source == "temporal":
        return temporal
    return CombinedHistories(temporal, await session.archive())


def _check_selection(args: argparse.Namespace) -> None:
    """Which conventions: ids, --all, --query or --file; said before any server is asked."""
    query = getattr(args, "query", None)
    chosen = sum(bool(choice) for choice in (args.convention_ids, args.all, query))
    if chosen > 1:
        raise UsageError("give convention ids, --all or --query, not several of them")
    if not (chosen or args.file):
        raise UsageError("say which conventions: ID…, --all, --query Q or --file HISTORY.json…")


async def _selected_ids(args: argparse.Namespace, source: HistorySource) -> list[str]:
    from auditing.histories import check_convention_id

    if args.convention_ids:
        return [check_convention_id(convention_id) for convention_id in args.convention_ids]
    return await source.convention_ids(getattr(args, "query", None))


async def _histories_in_order(
    source: HistorySource,
    convention_ids: Sequence[str],
    missing: list[str],
    damaged: list[str] | None = None,
) -> AsyncIterator[ConventionHistory]:
    """Fetch a few conventions ahead while the replay works; keep the order given."""
    from auditing.histories import HistoryNotFound
    from records.archive_store import ArchiveDamaged

    queue: deque[asyncio.Task[ConventionHistory]] = deque()
    upcoming = iter(convention_ids)

    def fetch_next() -> None:
        convention_id = next(upcoming, None)
        if convention_id is not None:
            queue.append(asyncio.create_task(source.history(convention_id)))

    for _ in range(FETCH_CONCURRENCY):
        fetch_next()
    try:
        while queue:
            task = queue.popleft()
            fetch_next()
            try:
                yield await task
            except HistoryNotFound as error:
                missing.append(str(error))
            except ArchiveDamaged as error:
                if damaged is None:
                    raise
                damaged.append(str(error))
    finally:
        for task in queue:
            task.cancel()


async def _each(histories: Sequence[ConventionHistory]) -> AsyncIterator[ConventionHistory]:
    for history in histories:
        yield history


def _replay_line(result: ReplayResult) -> str:
    events = sum(run.events for run in result.runs)
    runs = f"{len(result.runs)} run{'s' if len(result.runs) > 1 else ''}, {events} events"
    failure = result.first_failure
    if failure is None:
        return f"ok    {result.convention_id}  ({runs}; {result.source})"
    where = (
        f"event {failure.event_id} {failure.event_type}"
        if failure.event_id is not None
        else "event unknown"
    )
    code = f" [{failure.code}]" if failure.code else ""
    return f"FAIL  {result.convention_id}  run {failure.run_id}: {where}: {failure.detail}{code}"


async def _replay(args: argparse.Namespace, session: _Session) -> int:
    from auditing.histories import FileHistories
    from auditing.replay import replay_conventions
    from infra.temporal_client import data_converter

    _check_selection(args)
    settings = session.settings
    source = await _source(args, session)
    missing: list[str] = []
    damaged: list[str] = []
    histories: AsyncIterator[ConventionHistory]
    if isinstance(source, FileHistories) and not args.convention_ids:
        # Every history in the files, even two recordings of the same convention.
        ids = [chain.convention_id for chain in source.chains]
        histories = _each(source.chains)
    else:
        ids = await _selected_ids(args, source)
        histories = _histories_in_order(source, ids, missing, damaged)
    progress = Progress(
        len(ids),
        sys.stderr,
        args.progress if args.progress is not None else len(ids) > 1 and sys.stderr.isatty(),
    )
    failed = 0
    async for result in replay_conventions(histories, data_converter=data_converter(settings)):
        progress.clear()
        print(result.model_dump_json() if args.json else _replay_line(result), flush=True)
        failed += not result.ok
        progress.advance(result.convention_id)
    progress.clear()
    for line in damaged:
        print(f"FAIL  {line}", flush=True)
    failed += len(damaged)
    for line in missing:
        print(f"not found: {line}", file=sys.stderr)
    replayed = len(ids) - len(missing)
    if replayed:
        print(f"{replayed - failed} of {replayed} conventions replay", file=sys.stderr)
    if failed:
        return EXIT_FAILURE
    return EXIT_NOT_FOUND if missing else EXIT_OK


async def _export(args: argparse.Namespace, session: _Session) -> int:
    from auditing.export import export_convention
    from auditing.histories import check_convention_id

    convention_id = check_convention_id(args.convention_id)
    source = await _source(args, session)
    convention = await source.history(convention_id)
    directory = args.out / convention.workflow_id
    manifest = export_convention(convention, directory)
    for run in manifest.runs:
        print(directory / run.file)
    print(f"{len(manifest.runs)} run(s) of {convention.convention_id} from {convention.source}")
    return EXIT_OK


async def _timeline(args: argparse.Namespace, session: _Session) -> int:
    from auditing.histories import check_convention_id
    from auditing.timeline import build_timeline, party_names, render_json, timeline_people
    from infra.temporal_client import data_converter

    settings = session.settings
    source = await _source(args, session)
    if args.convention_id is None:
        ids = await source.convention_ids() if args.file else []
        if len(ids) != 1:
            raise UsageError("say which convention: timeline ID (the files hold several)")
        args.convention_id = ids[0]
    convention = await source.history(check_convention_id(args.convention_id))
    built = await build_timeline(convention, data_converter(settings))
    language = args.lang or language_from_environment()
    # The directory's names when PostgreSQL answers; read from files, or from Temporal alone
    # with no database configured (no embedded server started for names), the file's own.
    offline = args.file or (args.source == "temporal" and not settings.database_url)
    directory = (
        {} if offline else await _directory_names(session, list(built.party_names), language)
    )
    people = {} if offline else await _people_names(session, timeline_people(built))
    names = party_names(built, language, directory, people)
    rendered = (
        render_json(built)
        if args.format == "json"
        else renderers()[args.format](built, language=language, names=names, zone=args.zone)
    )
    if args.out:
        args.out.write_text(rendered, encoding="utf-8")
        print(
            f"{args.out}: {args.format} timeline of {convention.convention_id} "
            f"from {convention.source}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(rendered)
        print(f"timeline of {convention.convention_id} from {convention.source}", file=sys.stderr)
    return EXIT_OK


async def _directory_names(
    session: _Session, party_ids: list[str], language: str
) -> dict[str, str]:
    """The directory's names of these parties in `language`; none when PostgreSQL does not
    answer or has no directory (the convention file's names are said then)."""
    import asyncpg

    from application.directory.names import names_of

    try:
        pool = await session.pool()
        held = await names_of(pool, party_ids)
    except (DatabaseUnavailable, asyncpg.PostgresError, OSError):
        return {}
    return {
        party: held.organisation(party, language)
        for party in party_ids
        if party in held.organisations
    }


async def _people_names(session: _Session, person_ids: list[str]) -> dict[str, str]:
    """The directory's names of the people who answered, by person id; none when
    PostgreSQL does not answer (each answer's recorded name is said then)."""
    import asyncpg

    from application.directory.names import names_of

    if not person_ids:
        return {}
    try:
        pool = await session.pool()
        held = await names_of(pool, [], person_ids)
    except (DatabaseUnavailable, asyncpg.PostgresError, OSError):
        return {}
    return held.people_names()


async def _verify(args: argparse.Namespace, session: _Session) -> int:
    import asyncpg

    from auditing.histories import check_convention_id
    from infra.temporal_client import data_converter
    from storage.milestones import stored_convention_ids

    _check_selection(args)
    source = await _source(args, session)
    ids = [check_convention_id(convention_id) for convention_id in args.convention_ids]
    converter = data_converter(session.settings)
    pool = await session.pool()
    try:
        if not ids:
            known = set(await source.convention_ids())
            if args.all:
                known |= set(await stored_convention_ids(pool))
            ids = sorted(known)
        failed = missing = verified = 0
        for convention_id in ids:
            report = await _verify_one(
                source, pool, convention_id, converter, session.trust_roots()
            )
            if report is None:
                missing += 1
                print(f"not found: {convention_id}: no history and no milestone", file=sys.stderr)
                continue
            failed += not report.ok
            verified += 1
            print(report.model_dump_json() if args.json else _verify_lines(report), flush=True)
    except asyncpg.UndefinedColumnError as error:
        raise DatabaseUnavailable(
            f"PostgreSQL: {error} (the worker applies migration 003 at its next start)"
        ) from error
    except asyncpg.UndefinedTableError as error:
        raise DatabaseUnavailable(f"PostgreSQL: {error} (no Pacte database here?)") from error
    if verified:
        print(
            f"{verified - failed} of {verified} conventions verified against {source.description}",
            file=sys.stderr,
        )
    if failed:
        return EXIT_FAILURE
    return EXIT_NOT_FOUND if missing else EXIT_OK


async def _verify_one(
    source: HistorySource,
    pool: asyncpg.Pool,
    convention_id: str,
    converter: DataConverter,
    roots: list[Path],
) -> VerifyReport | None:
    """The convention's milestones against its history, its archive and its anchors (the
    timestamp tokens over its chain's heads); None if unknown."""
    from auditing.verify import anchor_findings

    report = await _verify_record(source, pool, convention_id, converter)
    if report is None:
        return None
    anchors, findings = await anchor_findings(pool, convention_id, roots)
    return report.model_copy(update={"anchors": anchors, "findings": [*report.findings, *findings]})


async def _verify_record(
    source: HistorySource, pool: asyncpg.Pool, convention_id: str, converter: DataConverter
) -> VerifyReport | None:
    """The convention's milestones against its history, and its archive; None if unknown."""
    from auditing.archive_check import check_archive
    from auditing.archive_source import ArchiveHistories, CombinedHistories
    from auditing.histories import HistoryNotFound
    from auditing.verify import verify_convention
    from storage.archive_failures import open_failures

    if not isinstance(source, CombinedHistories | ArchiveHistories):
        try:
            history: ConventionHistory | None = await source.history(convention_id)
        except HistoryNotFound:
            history = None
        report = await verify_convention(
            pool, convention_id, history, source.description, converter
        )
        return None if history is None and report.rows == 0 else report
    gathered = await source.gather(convention_id)
    archive = check_archive(
        gathered, await open_failures(pool, convention_id), source.store.description
    )
    history = gathered.history
    report = await verify_convention(
        pool,
        convention_id,
        history,
        history.source if history else source.description,
        converter,
        unreadable_runs=gathered.unreadable_runs,
    )
    if history is None and report.rows == 0 and archive.entries == 0 and archive.ok:
        return None
    return report.model_copy(update={"archive": archive})


def _verify_lines(report: VerifyReport) -> str:
    archive = report.archive
    if report.ok:
        pending = f", {report.pending_milestones} pending" if report.pending_milestones else ""
        archived = ""
        if archive is not None:
            waiting = len(archive.pending_runs)
            archived = f"; {archive.entries} archived run{'s' * (archive.entries != 1)} intact" + (
                f", {waiting} closed run{'s' * (waiting > 1)} not archived yet" if waiting else ""
            )
        anchored = (
            f"; {report.anchors} anchor{'s' * (report.anchors != 1)} hold" if report.anchors else ""
        )
        return (
            f"ok    {report.convention_id}  ({report.rows} milestones agree with the history"
            f"{pending}; chain intact{anchored}{archived}; {report.source})"
        )
    findings = [finding.message for finding in report.findings]
    if archive is not None:
        findings += [finding.message for finding in archive.findings]
    return "\n".join(f"FAIL  {message}" for message in findings)


async def _archive(args: argparse.Namespace, session: _Session) -> int:
    from activities.archive import Archiver
    from auditing.histories import HistoryNotFound, TemporalHistories, check_convention_id
    from storage.archive_failures import open_failures

    chosen = sum(bool(choice) for choice in (args.convention_ids, args.all, args.failures))
    if chosen != 1:
        raise UsageError("say which: archive ID…, archive --all or archive --failures")
    ids = [check_convention_id(convention_id) for convention_id in args.convention_ids]
    pool = await session.pool()
    if args.failures:
        return _print_failures(await open_failures(pool))
    client = await session.client()
    store = await session.archive()
    archiver = Archiver(client, pool, store)
    missing = 0
    reports: list[ArchiveBatchReport] = []
    if args.all:
        reports.append(await archiver.archive_runs(await archiver.pending_runs()))
    for convention_id in ids:
        try:
            convention = await TemporalHistories(client).history(convention_id)
        except HistoryNotFound:
            archived = await store.entries(convention_id)
            if archived:
                print(
                    f"kept  {convention_id}  not in Temporal any more; "
                    f"{len(archived)} run(s) in {store.description}"
                )
            else:
                missing += 1
                print(
                    f"not found: convention {convention_id!r}: in neither "
                    f"{TemporalHistories(client).description} nor {store.description}",
                    file=sys.stderr,
                )
            continue
        reports.append(await archiver.archive_closed(convention_id, convention.runs))
    for report in reports:
        for run in report.archived:
            state = "new " if run.newly_archived else "kept"
            print(
                f"{state}  {run.convention_id}  run {run.run_id} #{run.seq} {run.closed_as}, "
                f"{run.events} events, {run.size_bytes} bytes -> {run.stored_bytes} stored"
            )
        for failure in report.failed:
            print(f"FAIL  {failure.convention_id}  run {failure.run_id}: {failure.error}")
    written = sum(run.newly_archived for report in reports for run in report.archived)
    print(f"{written} run(s) archived in {store.description}", file=sys.stderr)
    still_open = await open_failures(pool)
    if args.convention_ids:
        still_open = [failure for failure in still_open if failure.convention_id in ids]
    if still_open:
        return _print_failures(still_open)
    return EXIT_NOT_FOUND if missing else EXIT_OK


def _print_failures(failures: Sequence[ArchiveFailure]) -> int:
    for failure in failures:
        print(
            f"not archived: {failure.convention_id} run {failure.run_id} "
            f"({failure.attempts} attempt(s) since {failure.first_failed_at:%Y-%m-%d %H:%M} UTC): "
            f"{failure.error}",
            file=sys.stderr,
        )
    if not failures:
        print("no closed run is waiting to be archived after a failure", file=sys.stderr)
    return EXIT_FAILURE if failures else EXIT_OK


async def _iati(args: argparse.Namespace, session: _Session) -> int:
    # Before any server: a missing setting is a usage error.
    from pydantic import ValidationError

    from auditing.bundle import as_milestone
    from auditing.iati import (
        ConventionRecord,
        ConventionUnreadable,
        activities_document,
        convention_from_history,
        organisation_names,
        reporter_from_environment,
        validation_errors,
    )
    from infra.payload_codec import PayloadDecryptionError
    from infra.temporal_client import data_converter

    reporter = reporter_from_environment(session.settings.environment)
    if bool(args.convention_ids) == bool(args.all):
        raise UsageError("say which conventions: iati ID… or iati --all")
    source = await _source(args, session)
    ids = await _selected_ids(args, source)
    converter = data_converter(session.settings)
    pool = await session.pool()
    records: list[ConventionRecord] = []
    missing: list[str] = []
    unreadable: list[str] = []
    # A convention whose runs cannot all be read (a run lost past retention) is named and
    # left out; it never hides the others (--all).
    async for history in _histories_in_order(source, ids, missing, damaged=unreadable):
        try:
            convention = await convention_from_history(history, converter)
        except (ConventionUnreadable, PayloadDecryptionError) as unread:
            # One convention that cannot be read never hides the others (--all).
            unreadable.append(
                str(unread)
                if isinstance(unread, ConventionUnreadable)
                else f"{history.convention_id}: {unread}"
            )
            continue
        rows = await _rows(pool, history.convention_id)
        try:
            milestones = [as_milestone(row) for row in rows]
        except ValidationError as error:  # a row altered past what a milestone can be
            where = ".".join(str(part) for part in error.errors()[0]["loc"])
            unreadable.append(
                f"{history.convention_id}: a stored milestone does not read ({where})"
            )
            continue
        records.append(
            ConventionRecord(
                convention,
                milestones,
                organisation_names=await organisation_names(
                    pool, [party.id for party in convention.parties]
                ),
            )
        )
    for line in unreadable:
        print(f"FAIL  {line}")
    for line in missing:
        print(f"not found: {line}", file=sys.stderr)
    document, incomplete = activities_document(records, reporter)
    for lacking in incomplete:
        for problem in lacking.problems:
            print(f"missing  {lacking.convention_id}: {problem}")
    if document is not None and not args.no_validate:
        invalid = validation_errors(document)
        if invalid:
            for line in invalid:
                print(f"invalid  {line}")
            print("not written: the file does not validate against IATI 2.03", file=sys.stderr)
            return EXIT_FAILURE
    if document is not None:
        if args.out:
            args.out.write_bytes(document)
        else:
            sys.stdout.buffer.write(document)
            sys.stdout.flush()
        reported = len(records) - len(incomplete)
        checked = "not validated" if args.no_validate else "valid against the 2.03 XSDs"
        print(
            f"{args.out or 'stdout'}: {reported} IATI activit{'y' if reported == 1 else 'ies'}"
            f" ({checked}); {len(incomplete)} left out",
            file=sys.stderr,
        )
    if incomplete or unreadable:
        return EXIT_FAILURE
    return EXIT_NOT_FOUND if missing else EXIT_OK


async def _rows(pool: asyncpg.Pool, convention_id: str) -> list[dict[str, object]]:
    import asyncpg

    from auditing.bundle import stored_milestones

    try:
        return await stored_milestones(pool, convention_id)
    except asyncpg.UndefinedTableError as error:
        raise DatabaseUnavailable(f"PostgreSQL: {error} (no Pacte database here?)") from error


async def _report(args: argparse.Namespace, session: _Session) -> int:
    from auditing.bundle import BundleHeads, chain_head, write_bundle
    from auditing.histories import check_convention_id
    from auditing.iati import convention_from_history
    from auditing.replay import replay_conventions
    from auditing.report import ReportFacts, render_report_pdf
    from auditing.timeline import build_timeline, timeline_people
    from infra.temporal_client import data_converter
    from storage import documents as documents_sql

    if args.out is None and args.bundle is None:
        raise UsageError("say where: report ID --out FILE.pdf and/or --bundle DIR")
    convention_id = check_convention_id(args.convention_id)
    language = args.lang or language_from_environment()
    source = await _source(args, session)
    converter = data_converter(session.settings)
    history = await source.history(convention_id)
    convention = await convention_from_history(history, converter)
    timeline = await build_timeline(history, converter)
    replay: ReplayResult | None = None
    async for result in replay_conventions(_each([history]), data_converter=converter):
        replay = result
    assert replay is not None  # one history in, one result out
    pool = await session.pool()
    verified = await _verify_one(source, pool, convention_id, converter, session.trust_roots())
    rows = await _rows(pool, convention_id)
    entries = await (await session.archive()).entries(convention_id)
    heads = BundleHeads(
        milestone_head=chain_head(rows),
        milestones=len(rows),
        archive_head=entries[-1].hash if entries else None,
        archive_entries=len(entries),
    )
    pdf = render_report_pdf(
        ReportFacts(
            convention=convention,
            timeline=timeline,
            replay=replay,
            verify=verified,
            milestone_head=heads.milestone_head,
            milestones=heads.milestones,
            archive_head=heads.archive_head,
            archive_entries=heads.archive_entries,
            language=language,
            zone=args.zone,
            organisation_names=await _directory_names(
                session, [party.id for party in convention.parties], language
            ),
            people_names=await _people_names(session, timeline_people(timeline)),
        )
    )
    if args.out:
        args.out.write_bytes(pdf)
        print(f"{args.out}: audit report of {convention_id} from {history.source}")
    if args.bundle:
        documents = await _bundled_documents(session, pool, convention_id)
        anchors = await documents_sql.anchors_of_convention(pool, convention_id)
        manifest = write_bundle(
            args.bundle,
            history,
            rows,
            pdf,
            heads,
            entries,
            documents=documents,
            anchors=anchors,
            certificates=session.trust_roots(),
        )
        print(
            f"{manifest}: bundle of {convention_id} "
            f"({len(history.runs)} run(s), {len(rows)} milestones, {len(documents)} "
            f"document(s), {len(anchors)} anchor(s))"
        )
        for document in documents:
            if document.content is None:
                print(
                    f"FAIL  {document.row.sha256} ({document.row.file_name}): not bundled: "
                    "the store does not give it back intact",
                    file=sys.stderr,
                )
    good = replay.ok and (verified is None or verified.ok)
    if not good:
        print(f"FAIL  {convention_id}: the report records a failed check", file=sys.stderr)
    return EXIT_OK if good else EXIT_FAILURE


async def _bundled_documents(
    session: _Session, pool: asyncpg.Pool, convention_id: str
) -> list[BundledDocument]:
    """Every document of the convention with its bytes, read back checked from the store."""
    from auditing.bundle import BundledDocument
    from documents.configured_store import open_document_store
    from documents.settings import load_document_settings
    from documents.store import DocumentDamaged, DocumentMissing
    from infra.settings import secrets_file
    from storage import documents as documents_sql

    store = open_document_store(
        load_document_settings(session.settings.environment),
        pool,
        secrets_file(session.settings.environment),
    )
    bundled: list[BundledDocument] = []
    for row in await documents_sql.documents_of_convention(pool, convention_id):
        try:
            content: bytes | None = await store.get(row.sha256)
        except (DocumentDamaged, DocumentMissing):
            content = None
        bundled.append(BundledDocument(row, content))
    return bundled


async def _check_bundle(args: argparse.Namespace, session: _Session) -> int:
    from auditing.bundle import check_bundle
    from auditing.histories import HistoryNotFound
    from infra.temporal_client import data_converter

    if not (args.directory / "manifest.json").exists():
        raise HistoryNotFound(f"{args.directory}: no manifest.json (not a bundle)")
    for root in args.trust or []:
        if not root.is_file():
            raise UsageError(f"--trust: no such file: {root}")
    result = await check_bundle(args.directory, data_converter(session.settings), args.trust)
    for line in result.passed:
        print(f"ok    {line}")
    for line in result.failures:
        print(f"FAIL  {line}")
    verdict = "intact" if result.ok else f"{len(result.failures)} failure(s)"
    print(f"bundle of {result.convention_id} in {args.directory}: {verdict}", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILURE


COMMANDS = {
    "replay": _replay,
    "export": _export,
    "timeline": _timeline,
    "verify": _verify,
    "archive": _archive,
    "iati": _iati,
    "report": _report,
    "check-bundle": _check_bundle,
}


def _quiet_temporal() -> None:
    # A replay that fails is reported by us, on one line: the SDK's traceback and Core's
    # warning about the failing workflow task would only bury it.
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    logging.getLogger("temporalio").setLevel(logging.CRITICAL)
    with contextlib.suppress(RuntimeError):  # a default runtime already exists: keep it
        Runtime.set_default(
            Runtime(
                telemetry=TelemetryConfig(
                    logging=LoggingConfig(
                        filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")
                    )
                )
            ),
            error_if_already_set=True,
        )


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    session = _Session(settings)
    try:
        return await COMMANDS[args.command](args, session)
    finally:
        await session.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every problem is one line on stderr and an exit code."""
    from infra.settings import load_settings

    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as done:  # --help: printed, and nothing else to do
            return int(done.code or 0)
        _quiet_temporal()
        return asyncio.run(_run(args, load_settings()))
    except Exception as error:  # said by its rule (application/cli_support.py), or re-raised
        return AUDIT_ERRORS.report(error)
