"""The auditors' checks from the office desk, as `audit.py` runs them: a convention's every
run read from Temporal then from the archive, replayed against this code, its milestones
verified against the history and their chain; its timeline (HTML, CSV, JSON) and its
histories exported. Each is written to the access log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum

import asyncpg
from temporalio.client import Client

from application.errors import HistoryUnavailable, NotFound
from application.office import access_log
from application.office.roles import Permission, authorize
from application.office.signin import OfficeSession
from application.partner import PartnerDesk
from auditing.archive_source import CombinedHistories
from auditing.histories import ConventionHistory, HistoryNotFound, TemporalHistories
from auditing.html_report import render_html
from auditing.replay import replay_conventions
from auditing.timeline import build_timeline, render_csv, render_json
from auditing.verify import verify_convention
from infra.settings import SettingsError, load_archive_settings
from records.archive_store import ArchiveDamaged, ArchiveUnavailable, open_archive
from records.history_events import history_file_bytes
from schemas.audit import ReplayResult, Timeline, VerifyReport


class TimelineFormat(StrEnum):
    """The timeline's downloads."""

    HTML = "html"
    CSV = "csv"
    JSON = "json"


_RENDERERS: dict[TimelineFormat, tuple[Callable[[Timeline], str], str]] = {
    TimelineFormat.HTML: (render_html, "text/html; charset=utf-8"),
    TimelineFormat.CSV: (render_csv, "text/csv; charset=utf-8"),
    TimelineFormat.JSON: (render_json, "application/json"),
}


@dataclass(frozen=True)
class AuditCheck:
    """A convention replayed and verified."""

    replay: ReplayResult
    verify: VerifyReport


@dataclass(frozen=True)
class Download:
    """A file for the auditor: its text, its media type, its name."""

    body: str
    media_type: str
    filename: str


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
        self, session: OfficeSession, convention_id: str, fmt: str, address: str
    ) -> Download:
        """The timeline as HTML, CSV or JSON; NotFound for another format."""
        authorize(session, Permission.AUDIT)
        try:
            chosen = TimelineFormat(fmt)
        except ValueError as error:
            raise NotFound(f"no format {fmt!r}") from error
        timeline = await build_timeline(
            await self.history(convention_id), self.client.data_converter
        )
        renderer, media_type = _RENDERERS[chosen]
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
