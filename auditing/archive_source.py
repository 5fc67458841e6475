"""Histories from the archive, alone or behind Temporal: the auditors' commands read either.

`ArchiveHistories` reads only the archive. `CombinedHistories` (the commands' default, `--source
auto`) takes every run Temporal still has and every archived run it no longer has: a convention
whose early runs are past retention while its last one still runs is read whole. Either says,
for each convention, where its runs came from.

A run whose archived copy no longer matches its hash, or a run the others link to (continue-
as-new) that is in neither place, is never passed over: reading the convention raises
ArchiveDamaged, and `verify` reports each problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from temporalio.client import WorkflowHistory

from auditing.histories import (
    ConventionHistory,
    HistoryNotFound,
    InvalidRequest,
    TemporalHistories,
    _ordered,
    check_convention_id,
)
from records.archive_store import ArchiveContents, ArchiveDamaged, ArchiveStore, read_history
from schemas.contract import workflow_id_for


@dataclass(frozen=True)
class LostRun:
    """A run another run links to (continue-as-new) that neither Temporal nor the archive has."""

    run_id: str
    linked_from: str
    relation: str  # "continued into" or "continued from"


@dataclass(frozen=True)
class GatheredHistory:
    """Everything known of a convention's runs, in Temporal and in the archive."""

    convention_id: str
    history: ConventionHistory | None
    temporal_runs: dict[str, WorkflowHistory]
    contents: ArchiveContents
    damaged: dict[str, str] = field(default_factory=dict)  # run id -> why it cannot be read
    lost: list[LostRun] = field(default_factory=list)
    read: dict[int, WorkflowHistory | ArchiveDamaged] = field(default_factory=dict)
    """Archived entries already read back, by seq (the check reads the others)."""

    @property
    def unreadable_runs(self) -> set[str]:
        """Runs whose history is in no readable place (damaged, or lost)."""
        return set(self.damaged) | {lost.run_id for lost in self.lost}

    def problems(self) -> list[str]:
        """One line per run (or entry) that keeps the convention from being read whole."""
        where = self.history.source if self.history else "Temporal or the archive"
        unreadable = [
            f"archive entry #{item.seq} of {self.convention_id} ({item.location}): {item.reason}"
            for item in self.contents.unreadable
        ]
        return [*unreadable, *self.damaged.values()] + [
            f"convention {self.convention_id!r}: run {lost.run_id} ({lost.relation} run "
            f"{lost.linked_from}) is in neither {where}"
            for lost in self.lost
        ]


async def gather(
    convention_id: str, store: ArchiveStore, temporal: TemporalHistories | None
) -> GatheredHistory:
    """The convention's runs: Temporal's copy of each run it still has, the archive's of the
    others; damaged archived runs and runs linked to but found nowhere are listed apart."""
    check_convention_id(convention_id)
    temporal_runs: dict[str, WorkflowHistory] = {}
    if temporal is not None:
        try:
            found = await temporal.history(convention_id)
        except HistoryNotFound:
            pass
        else:
            temporal_runs = {run.run_id: run for run in found.runs}
    contents = await store.contents(convention_id)
    archived: dict[str, WorkflowHistory] = {}
    damaged: dict[str, str] = {}
    read: dict[int, WorkflowHistory | ArchiveDamaged] = {}
    for stored in contents.entries:
        run_id = stored.entry.run_id
        if run_id in archived or run_id in temporal_runs:
            continue  # Temporal's copy is read; verify compares the archived one with it
        try:
            archived[run_id] = read[stored.entry.seq] = read_history(stored)
        except ArchiveDamaged as error:
            damaged[run_id] = str(error)
            read[stored.entry.seq] = error
    runs = {**archived, **temporal_runs}
    history = None
    if runs:
        history = ConventionHistory(
            convention_id,
            workflow_id_for(convention_id),
            _describe(temporal, store, len(temporal_runs), len(archived)),
            _ordered(runs.values()),
        )
    return GatheredHistory(
        convention_id,
        history,
        temporal_runs,
        contents,
        damaged,
        [lost for lost in _missing_links(runs.values()) if lost.run_id not in damaged],
        read,
    )


def _describe(
    temporal: TemporalHistories | None, store: ArchiveStore, in_temporal: int, in_archive: int
) -> str:
    if temporal is None or not in_temporal:
        return store.description
    if not in_archive:
        return temporal.description
    return (
        f"{temporal.description} ({in_temporal} run{'s' * (in_temporal > 1)}) and "
        f"{store.description} ({in_archive} run{'s' * (in_archive > 1)})"
    )


def _missing_links(runs: Iterable[WorkflowHistory]) -> list[LostRun]:
    """Runs the continue-as-new links name that are not among these."""
    histories = list(runs)
    known = {history.run_id for history in histories}
    lost: list[LostRun] = []
    for history in histories:
        started = history.events[0].workflow_execution_started_event_attributes
        previous = started.continued_execution_run_id
        if previous and previous not in known:
            lost.append(LostRun(previous, history.run_id, "continued into"))
        last = history.events[-1].workflow_execution_continued_as_new_event_attributes
        if last.new_execution_run_id and last.new_execution_run_id not in known:
            lost.append(LostRun(last.new_execution_run_id, history.run_id, "continued from"))
    return lost


class ArchiveHistories:
    """Histories read from the archive only (`--source archive`)."""

    def __init__(self, store: ArchiveStore) -> None:
        self._store = store

    @property
    def store(self) -> ArchiveStore:
        """The archive read."""
        return self._store

    @property
    def description(self) -> str:
        """The archive the histories come from."""
        return self._store.description

    async def convention_ids(self, query: str | None = None) -> list[str]:
        """Every convention with an archived run (the archive has no visibility to query)."""
        if query:
            raise InvalidRequest(
                "--query: the archive has no visibility to query (use --source temporal or auto)"
            )
        return await self._store.convention_ids()

    async def gather(self, convention_id: str) -> GatheredHistory:
        """The archived runs, and what cannot be read of them."""
        return await gather(convention_id, self._store, None)

    async def history(self, convention_id: str) -> ConventionHistory:
        """Every archived run; HistoryNotFound if none, ArchiveDamaged if one cannot be read."""
        return _whole(await self.gather(convention_id), f"not in {self.description}")


class CombinedHistories:
    """Temporal's histories, and the archive's for the runs Temporal no longer has."""

    def __init__(self, temporal: TemporalHistories, store: ArchiveStore) -> None:
        self._temporal = temporal
        self._store = store

    @property
    def store(self) -> ArchiveStore:
        """The archive read behind Temporal."""
        return self._store

    @property
    def description(self) -> str:
        """Both sources."""
        return f"{self._temporal.description}, then {self._store.description}"

    async def convention_ids(self, query: str | None = None) -> list[str]:
        """Conventions Temporal knows (matching the query), and with no query the archive's."""
        found = set(await self._temporal.convention_ids(query))
        if not query:
            found |= set(await self._store.convention_ids())
        return sorted(found)

    async def gather(self, convention_id: str) -> GatheredHistory:
        """Every run from either place, and what cannot be read of them."""
        return await gather(convention_id, self._store, self._temporal)

    async def history(self, convention_id: str) -> ConventionHistory:
        """Every run; HistoryNotFound if in neither place, ArchiveDamaged if one is missing."""
        return _whole(
            await self.gather(convention_id),
            f"in neither {self._temporal.description} nor {self._store.description}",
        )


def _whole(gathered: GatheredHistory, where: str) -> ConventionHistory:
    problems = gathered.problems()
    if problems:
        raise ArchiveDamaged("; ".join(problems))
    if gathered.history is None:
        raise HistoryNotFound(f"convention {gathered.convention_id!r}: {where}")
    return gathered.history
