"""The office desk as the routes hold it: one object over the partner desk's pool, Temporal
client and settings, delegating each job to its module (sign-in, portfolio, a convention's
page, actions, starting, audit, the access log)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
from temporalio.client import Client

from application.conventions import ConventionNotFound, ConventionUnreadable
from application.office import access_log, portfolio, starting
from application.office.actions import OfficerActions
from application.office.audit import ConventionAudit
from application.office.overview import (
    SETTLE_AFTER_ACTION,
    ConventionOverview,
    convention_overview,
    settled_status,
)
from application.office.portfolio import PortfolioCache, PortfolioPage
from application.office.reassignees import choices_for
from application.office.responsible_officer import officer_choices
from application.office.roles import Permission, may
from application.office.signin import OfficeSession, SignIn
from application.partner import PartnerDesk
from infra.portal_settings import derived_key
from schemas.convention import Convention
from storage.access_log import AccessLine


@dataclass
class OfficeDesk:
    """The office-facing service over Temporal and PostgreSQL; keeps no state of its own
    but the portfolio's cache (keyed by the read model's version, see PortfolioCache)."""

    partner: PartnerDesk
    task_queue: str
    signin: SignIn = field(init=False)
    actions: OfficerActions = field(init=False)
    audit: ConventionAudit = field(init=False)
    portfolio_cache: PortfolioCache = field(default_factory=PortfolioCache)

    def __post_init__(self) -> None:
        self.signin = SignIn(self.partner)
        self.actions = OfficerActions(self.partner)
        self.audit = ConventionAudit(self.partner)

    @property
    def pool(self) -> asyncpg.Pool:
        """The database the partner desk uses too."""
        return self.partner.pool

    @property
    def client(self) -> Client:
        """Temporal."""
        return self.partner.client

    def csrf_key(self) -> bytes:
        """The key the office's CSRF tokens are signed with (not the partners')."""
        return derived_key(self.partner.secret, "office-csrf")

    async def access_log(self, limit: int = 200) -> list[AccessLine]:
        """The latest lines of the access log, newest first."""
        return await access_log.latest(self.pool, limit)

    async def portfolio(self) -> dict[str, list[dict[str, Any]]]:
        """Every table of the portfolio (the same for `starter.py report`)."""
        await portfolio.backfill_convention_files(self.pool, self.client)
        return await portfolio.portfolio(self.pool)

    async def portfolio_table(self, table: str) -> list[dict[str, Any]]:
        """Every row of one table, the backfill done first."""
        await portfolio.backfill_convention_files(self.pool, self.client)
        return (await portfolio.portfolio(self.pool, (table,)))[table]

    async def portfolio_page(
        self, tables: tuple[str, ...] | None = None, *, backfill: bool = True
    ) -> PortfolioPage:
        """The page's share of the portfolio (see PAGE_ROWS), every table or those named;
        a chart, which follows its page, leaves the backfill to the page."""

        async def backfill_files() -> None:
            await portfolio.backfill_convention_files(self.pool, self.client)

        return await self.portfolio_cache.page(
            self.pool,
            tables or portfolio.PORTFOLIO_TABLES,
            before=backfill_files if backfill else None,
        )

    async def convention_page(
        self,
        session: OfficeSession,
        convention_id: str,
        language: str = "fr",
        *,
        settle: float = 0.0,
    ) -> ConventionOverview:
        """What the convention's page shows (names in `language`), and what this reader may
        do there; `settle`: seconds to wait for the workflow to settle (after an action)."""
        overview = await convention_overview(
            self.pool,
            self.client,
            convention_id,
            can_act=may(session.role, Permission.ACT),
            language=language,
            settle=settle,
            reader_email=session.user.email,
            zone=session.time_zone,
        )
        if overview.can_change_officer:
            overview = replace(overview, officer_choices=await officer_choices(self.pool))
        if overview.can_reassign and overview.status is not None:
            file_contacts = {party.id: party.contacts for party in overview.parties}
            choices = await choices_for(self.pool, overview.status.open_tasks, file_contacts)
            overview = replace(overview, reassign_choices=[c for c in choices if c.choices])
        return overview

    async def settle(self, convention_id: str) -> None:
        """Wait (SETTLE_AFTER_ACTION at most) until the convention's workflow shows the state
        an action produced: an open task, its end, or nothing left in hand."""
        try:
            await settled_status(self.client, convention_id, SETTLE_AFTER_ACTION)
        except (ConventionNotFound, ConventionUnreadable):
            return

    def read_upload(self, data: bytes, filename: str) -> Convention:
        """The uploaded convention file, validated."""
        return starting.read_upload(data, filename)

    async def start(self, session: OfficeSession, convention: Convention, address: str) -> str:
        """Start it on the desk's task queue."""
        return await starting.start(self.partner, self.task_queue, session, convention, address)
