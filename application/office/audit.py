"""The auditors' checks from the office desk, as `audit.py` runs them: a convention's every
run read from Temporal then from the archive, replayed against this code, its milestones
verified against the history and their chain; its timeline (HTML, CSV in the reader's
dialect, JSON, XLSX), its histories exported, its audit report (PDF, as `audit.py report`)
and its IATI activity file (as `audit.py iati`). Each is written to the access log."""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client

from application.directory.names import names_of
from application.errors import Conflict, HistoryUnavailable, NotFound, Unavailable
from application.office import access_log
from application.office.roles import Permission, authorize
from application.office.signin import OfficeSession
from application.partner import PartnerDesk
from auditing.archive_source import CombinedHistories
from auditing.bundle import (
    BundleHeads,
    as_milestone,
    chain_head,
    stored_milestones,
    write_bundle,
)
from auditing.histories import ConventionHistory, HistoryNotFound, TemporalHistories
from auditing.html_report import render_html
from auditing.iati import (
    ConventionRecord,
    ConventionUnreadable,
    IatiConfigurationMissing,
    activities_document,
    convention_from_history,
    organisation_names,
    reporter_from_environment,
    validation_errors,
)
from auditing.replay import replay_conventions
from auditing.report import ReportFacts, ReportUnavailable, render_report_pdf
from auditing.timeline import (
    CSV_COLUMNS,
    RENDERED_COLUMNS,
    build_timeline,
    party_names,
    render_json,
    timeline_csv,
    timeline_people,
    timeline_rows,
)
from auditing.verify import verify_convention
from infra.settings import SettingsError, load_archive_settings
from records.archive_store import ArchiveDamaged, ArchiveEntry, ArchiveUnavailable, open_archive
from records.csv_writer import dialect_for
from records.history_events import history_file_bytes
from records.xlsx_writer import XLSX_MEDIA_TYPE, write_xlsx
from rendering.zones import DEFAULT_ZONE
from schemas.audit import ReplayResult, Timeline, VerifyReport
from schemas.errors import DetailCode, coded_detail
from storage.milestones import has_milestones


class TimelineFormat(StrEnum):
    """The timeline's downloads."""

    HTML = "html"
    CSV = "csv"
    JSON = "json"
    XLSX = "xlsx"


def _renderers(
    language: str | None,
    names: Mapping[str, str] | None = None,
    reader: str | None = None,
    people: Mapping[str, str] | None = None,
    zone: str = DEFAULT_ZONE,
) -> dict[TimelineFormat, tuple[Callable[[Timeline], str | bytes], str]]:
    """Each format's writer; the CSV in the reader's dialect when a language is given
    (`;` and a BOM in French), RFC 4180 for programs otherwise; the HTML page and the CSV's
    and the XLSX's `text` column in the `reader`'s language (the given one, else English)
    and `zone`, parties by the directory's `names`. The stored columns stay as programs
    read them (`at` in ISO UTC)."""
    dialect = dialect_for(language) if language else None
    reader = reader or language or "en"

    def csv_text(timeline: Timeline) -> str:
        said = party_names(timeline, reader, names, people)
        if dialect is None:
            return timeline_csv(timeline, language=reader, names=said, zone=zone)
        return timeline_csv(
            timeline,
            separator=dialect.separator,
            bom=dialect.bom,
            language=reader,
            names=said,
            zone=zone,
        )

    def html_page(timeline: Timeline) -> str:
        return render_html(
            timeline,
            language=reader,
            names=party_names(timeline, reader, names, people),
            zone=zone,
        )

    def xlsx(timeline: Timeline) -> bytes:
        # The stored columns for machines, then the line said in the reader's language.
        said = party_names(timeline, reader, names, people)
        rows = timeline_rows(timeline, reader, said, zone)
        return write_xlsx(CSV_COLUMNS + RENDERED_COLUMNS, rows, "timeline")

    return {
        TimelineFormat.HTML: (html_page, "text/html; charset=utf-8"),
        TimelineFormat.CSV: (csv_text, "text/csv; charset=utf-8"),
        TimelineFormat.JSON: (render_json, "application/json"),
        TimelineFormat.XLSX: (xlsx, XLSX_MEDIA_TYPE),
    }


async def _organisation_names(
    pool: asyncpg.Pool, party_ids: list[str], language: str
) -> dict[str, str]:
    """The directory's names of these parties in `language` (those it holds)."""
    held = await names_of(pool, party_ids)
    return {
        party: held.organisation(party, language)
        for party in party_ids
        if party in held.organisations
    }


@dataclass(frozen=True)
class AuditCheck:
    """A convention replayed and verified."""

    replay: ReplayResult
    verify: VerifyReport


@dataclass(frozen=True)
class Download:
    """A file for the auditor: its text (or bytes), its media type, its name."""

    body: str | bytes
    media_type: str
    filename: str


@dataclass(frozen=True)
class _MadeReport:
    """The audit report and what the inspector's bundle holds beside it."""

    history: ConventionHistory
    rows: list[dict[str, Any]]
    pdf: bytes
    heads: BundleHeads
    entries: Sequence[ArchiveEntry]


def _zipped_bundle(convention_id: str, made: _MadeReport) -> bytes:
    """`write_bundle`'s files in a temporary folder, zipped under `ID-bundle/`."""
    folder_name = f"{convention_id}-bundle"
    with tempfile.TemporaryDirectory(prefix="pacte-bundle-") as scratch:
        folder = Path(scratch) / folder_name
        write_bundle(folder, made.history, made.rows, made.pdf, made.heads, made.entries)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, f"{folder_name}/{path.relative_to(folder).as_posix()}")
        return out.getvalue()


@dataclass
class ConventionAudit:
    """The auditors' use cases over Temporal, the archive and PostgreSQL; keeps no state."""

    partner: PartnerDesk

    @property
    def pool(self) -> asyncpg.Pool:
        """The database."""
        return self.partner.pool

    @property
    def client(self) -> Client:
        """Temporal."""
        return self.partner.client

    async def history(self, convention_id: str) -> ConventionHistory:
        """Every run of a convention as `audit.py` reads it: from Temporal, then from the
        archive (PACTE_ARCHIVE_DIR, or PostgreSQL's history_archive) for the runs past
        Temporal's retention. NotFound if in neither; HistoryUnavailable if a run is lost."""
        try:
            store = open_archive(load_archive_settings(), self.pool)
            histories = CombinedHistories(TemporalHistories(self.client), store)
            return await histories.history(convention_id)
        except HistoryNotFound as error:
            raise NotFound(str(error)) from error
        except (ArchiveDamaged, ArchiveUnavailable, SettingsError) as error:
            raise HistoryUnavailable(str(error)) from error

    async def known(self, convention_id: str) -> None:
        """NotFound unless a convention of this id ever ran here (its milestones outlive
        Temporal's retention and the archive's moves): an audit page is a convention's, and
        a made-up id (`first-hour-1~`, `backup.zip`) is not one."""
        if not await has_milestones(self.pool, convention_id):
            raise NotFound(
                coded_detail(
                    DetailCode.CONVENTION_UNKNOWN,
                    f"no convention {convention_id!r}",
                    convention=convention_id,
                )
            )

    async def check(self, session: OfficeSession, convention_id: str, address: str) -> AuditCheck:
        """Replay every run against this code and verify the milestones (as audit.py does)."""
        authorize(session, Permission.AUDIT)
        history = await self.history(convention_id)

        async def one() -> AsyncIterator[ConventionHistory]:
            yield history

        converter = self.client.data_converter
        replay = [r async for r in replay_conventions(one(), data_converter=converter)]
        verify = await verify_convention(
            self.pool, convention_id, history, history.source, converter
        )
        await access_log.record(
            self.pool,
            session.user.email,
            "audit_check",
            "ok" if replay[0].ok and verify.ok else "failed",
            address,
            convention_id,
        )
        return AuditCheck(replay[0], verify)

    async def timeline(
        self,
        session: OfficeSession,
        convention_id: str,
        fmt: str,
        address: str,
        language: str | None = None,
    ) -> Download:
        """The timeline as HTML, CSV (in `language`'s spreadsheet dialect when given), JSON
        or XLSX, said in `language` or else the auditor's own, in the zone their account
        reads in; NotFound for another format."""
        authorize(session, Permission.AUDIT)
        try:
            chosen = TimelineFormat(fmt)
        except ValueError as error:
            raise NotFound(
                coded_detail(DetailCode.NO_EXPORT, f"no format {fmt!r}", format=fmt)
            ) from error
        timeline = await build_timeline(
            await self.history(convention_id), self.client.data_converter
        )
        # The page in the language asked for, else the auditor's own.
        reader = language or session.language
        names = await names_of(self.pool, list(timeline.party_names), timeline_people(timeline))
        directory = {
            party: names.organisation(party, reader)
            for party in timeline.party_names
            if party in names.organisations
        }
        renderer, media_type = _renderers(
            language, directory, reader, names.people_names(), session.time_zone
        )[chosen]
        await access_log.record(
            self.pool,
            session.user.email,
            f"download_timeline_{chosen.value}",
            "ok",
            address,
            convention_id,
        )
        return Download(renderer(timeline), media_type, f"{convention_id}-timeline.{chosen.value}")

    async def export(self, session: OfficeSession, convention_id: str, address: str) -> Download:
        """Every run's history, as `audit.py export` writes them (JSON, one document)."""
        authorize(session, Permission.AUDIT)
        history = await self.history(convention_id)
        runs = [json.loads(history_file_bytes(run)) for run in history.runs]
        await access_log.record(
            self.pool, session.user.email, "download_export", "ok", address, convention_id
        )
        return Download(
            json.dumps({"convention_id": convention_id, "runs": runs}),
            "application/json",
            f"{convention_id}.json",
        )

    async def _record(self, convention_id: str) -> tuple[ConventionHistory, ConventionRecord]:
        """The convention's history, its file (from the first run's input) and its stored
        milestones; Conflict when the history holds no readable convention file."""
        history = await self.history(convention_id)
        try:
            convention = await convention_from_history(history, self.client.data_converter)
        except ConventionUnreadable as error:
            raise Conflict(str(error)) from error
        rows = await stored_milestones(self.pool, convention_id)
        return history, ConventionRecord(
            convention,
            [as_milestone(row) for row in rows],
            organisation_names=await organisation_names(
                self.pool, [party.id for party in convention.parties]
            ),
        )

    async def report(self, session: OfficeSession, convention_id: str, address: str) -> Download:
        """The audit report (PDF), as `audit.py report ID --out FILE.pdf` writes it: the
        convention, its replay and verification, its timeline and the heads of its chains."""
        authorize(session, Permission.AUDIT)
        made = await self._report(convention_id, session.language, session.time_zone)
        await access_log.record(
            self.pool, session.user.email, "download_report", "ok", address, convention_id
        )
        return Download(made.pdf, "application/pdf", f"{convention_id}-audit-report.pdf")

    async def bundle(self, session: OfficeSession, convention_id: str, address: str) -> Download:
        """The inspector's bundle as one zip: what `audit.py report ID --bundle DIR` writes
        (histories, milestones, archive entries, the report, the manifest of their hashes),
        under one folder `ID-bundle/` that `audit.py check-bundle` reads once unzipped."""
        authorize(session, Permission.AUDIT)
        made = await self._report(convention_id, session.language, session.time_zone)
        body = await asyncio.to_thread(_zipped_bundle, convention_id, made)
        await access_log.record(
            self.pool, session.user.email, "download_bundle", "ok", address, convention_id
        )
        return Download(body, "application/zip", f"{convention_id}-bundle.zip")

    async def _report(
        self, convention_id: str, language: str, zone: str = DEFAULT_ZONE
    ) -> _MadeReport:
        """The report's PDF in `language` and `zone` (the auditor's), and what the bundle
        holds beside it."""
        history, record = await self._record(convention_id)
        converter = self.client.data_converter

        async def one() -> AsyncIterator[ConventionHistory]:
            yield history

        [replay] = [r async for r in replay_conventions(one(), data_converter=converter)]
        verify = await verify_convention(
            self.pool, convention_id, history, history.source, converter
        )
        rows = await stored_milestones(self.pool, convention_id)
        try:
            entries = await open_archive(load_archive_settings(), self.pool).entries(convention_id)
        except (ArchiveDamaged, ArchiveUnavailable, SettingsError) as error:
            raise HistoryUnavailable(str(error)) from error
        heads = BundleHeads(
            milestone_head=chain_head(rows),
            milestones=len(rows),
            archive_head=entries[-1].hash if entries else None,
            archive_entries=len(entries),
        )
        timeline = await build_timeline(history, converter)
        people = await names_of(self.pool, [], timeline_people(timeline))
        facts = ReportFacts(
            convention=record.convention,
            timeline=timeline,
            replay=replay,
            verify=verify,
            milestone_head=heads.milestone_head,
            milestones=heads.milestones,
            archive_head=heads.archive_head,
            archive_entries=heads.archive_entries,
            language=language,
            zone=zone,
            organisation_names=await _organisation_names(
                self.pool, [party.id for party in record.convention.parties], language
            ),
            people_names=people.people_names(),
        )
        try:
            pdf = render_report_pdf(facts)
        except ReportUnavailable as error:
            raise Unavailable(str(error)) from error
        return _MadeReport(history, rows, pdf, heads, entries)

    async def iati(self, session: OfficeSession, convention_id: str, address: str) -> Download:
        """The convention as an IATI 2.03 activities file, validated against the standard's
        XSDs, as `audit.py iati ID` writes it. Unavailable without PACTE_IATI_ORG_REF;
        Conflict when the convention lacks what IATI requires (each piece named)."""
        authorize(session, Permission.AUDIT)
        try:
            reporter = reporter_from_environment()
        except IatiConfigurationMissing as error:
            raise Unavailable(str(error)) from error
        _history, record = await self._record(convention_id)
        document, incomplete = activities_document([record], reporter)
        if document is None:
            problems = [problem for lacking in incomplete for problem in lacking.problems]
            await access_log.record(
                self.pool, session.user.email, "download_iati", "incomplete", address, convention_id
            )
            raise Conflict("IATI cannot take this convention yet: " + "; ".join(problems))
        invalid = validation_errors(document)
        if invalid:
            await access_log.record(
                self.pool, session.user.email, "download_iati", "invalid", address, convention_id
            )
            raise Conflict("the IATI file does not validate: " + "; ".join(invalid[:5]))
        await access_log.record(
            self.pool, session.user.email, "download_iati", "ok", address, convention_id
        )
        return Download(document, "application/xml", f"{convention_id}-iati.xml")
