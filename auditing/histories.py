"""Where a convention's histories come from: the Temporal server, or history files.

Every auditors' command reads conventions through a HistorySource and says which one it
used. A source that keeps histories beyond Temporal's retention (an archive) is a third
implementation of the same two methods.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from auditing.decode import convention_of, decode_payloads
from infra.temporal_client import TemporalUnavailable
from records.history_events import started_workflow_id
from schemas.contract import WORKFLOW_ID_PREFIX, workflow_id_for
from schemas.contract import WORKFLOW_TYPE as CONVENTION_WORKFLOW_TYPE
from schemas.values import IDENTIFIER_PATTERN


class HistoryNotFound(LookupError):
    """No history of this convention in the source."""


class InvalidRequest(ValueError):
    """A convention id, a query or a file the source cannot use; the message says why."""


@dataclass(frozen=True)
class ConventionHistory:
    """Every run of one convention's workflow, oldest first, and where they came from."""

    convention_id: str
    workflow_id: str
    source: str
    runs: tuple[WorkflowHistory, ...]


class HistorySource(Protocol):
    """Gives conventions' histories by id, and lists the conventions it knows."""

    @property
    def description(self) -> str:
        """Which source this is, for the auditor: a server address, files, an archive."""
        ...

    async def convention_ids(self, query: str | None = None) -> list[str]:
        """Conventions known to the source (matching a visibility query, if it has any)."""
        ...

    async def history(self, convention_id: str) -> ConventionHistory:
        """Every run of the convention; raises HistoryNotFound."""
        ...


def check_convention_id(convention_id: str) -> str:
    """A convention id as the files declare it, or InvalidRequest naming what is wrong."""
    if not IDENTIFIER_PATTERN.match(convention_id):
        raise InvalidRequest(
            f"convention id: {convention_id!r} is not an identifier "
            "(letters, digits, '.', '_' or '-', at most 80 characters)"
        )
    return convention_id


def _ordered(runs: Iterable[WorkflowHistory]) -> tuple[WorkflowHistory, ...]:
    # Continue-as-new starts the next run after the previous one closed.
    return tuple(sorted(runs, key=lambda run: run.events[0].event_time.ToNanoseconds()))


class TemporalHistories:
    """Histories fetched from the Temporal server, every run of a workflow id."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def description(self) -> str:
        """The server and namespace the histories come from."""
        config = self._client.service_client.config
        return f"temporal {config.target_host} namespace {self._client.namespace}"

    async def convention_ids(self, query: str | None = None) -> list[str]:
        """Convention workflows in Temporal's visibility, each once, sorted."""
        base = f"WorkflowType = '{CONVENTION_WORKFLOW_TYPE}'"
        found: set[str] = set()
        try:
            async for execution in self._client.list_workflows(
                f"{base} AND ({query})" if query else base
            ):
                # A query can close the parenthesis and widen the search: keep conventions.
                if execution.workflow_type == CONVENTION_WORKFLOW_TYPE:
                    found.add(execution.id.removeprefix(WORKFLOW_ID_PREFIX))
        except RPCError as error:
            raise _translated(error, f"query {query!r}") from error
        return sorted(found)

    async def history(self, convention_id: str) -> ConventionHistory:
        """Every run: those visibility lists, and those the continue-as-new links reach."""
        workflow_id = workflow_id_for(check_convention_id(convention_id))
        runs: dict[str, WorkflowHistory] = {}
        to_fetch: list[str | None] = [None]  # None: the latest run
        try:
            to_fetch += await self._listed_runs(workflow_id)
            while to_fetch:
                run_id = to_fetch.pop()
                if run_id is not None and run_id in runs:
                    continue
                history = await self._fetch(workflow_id, run_id)
                if history is None:
                    continue
                runs[history.run_id] = history
                # Visibility lags behind the histories: follow the chain both ways as well.
                started = history.events[0].workflow_execution_started_event_attributes
                last = history.events[-1]
                for linked in (
                    started.continued_execution_run_id,
                    last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id,
                ):
                    if linked and linked not in runs:
                        to_fetch.append(linked)
        except RPCError as error:
            raise _translated(error, f"convention {convention_id!r}") from error
        if not runs:
            raise HistoryNotFound(f"convention {convention_id!r}: no workflow {workflow_id}")
        return ConventionHistory(
            convention_id, workflow_id, self.description, _ordered(runs.values())
        )

    async def _listed_runs(self, workflow_id: str) -> list[str | None]:
        try:
            return [
                execution.run_id
                async for execution in self._client.list_workflows(f"WorkflowId = '{workflow_id}'")
            ]
        except RPCError as error:
            # The time-skipping test server has no visibility: the links are enough there.
            if error.status is RPCStatusCode.UNIMPLEMENTED:
                return []
            raise

    async def _fetch(self, workflow_id: str, run_id: str | None) -> WorkflowHistory | None:
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            history = await handle.fetch_history()
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return None
            raise
        return history if history.events else None


class FileHistories:
    """Histories read from JSON files (`temporal workflow show --output json`, `export`).

    Runs are grouped by workflow execution chain (the first run of a continue-as-new chain),
    so two recordings of the same convention in the files stay two conventions.
    """

    def __init__(self, chains: list[ConventionHistory], description: str) -> None:
        self._chains = chains
        self._description = description

    @classmethod
    async def load(
        cls, paths: Iterable[Path], converter: DataConverter = pydantic_data_converter
    ) -> FileHistories:
        """Read every file (directories: every *.json below them); group runs by chain.

        `converter` decodes the start events' inputs (the configured one reads encrypted
        histories).
        """
        files = _history_files(paths)
        grouped: dict[tuple[str, str], list[WorkflowHistory]] = {}
        read_from: dict[tuple[str, str], list[Path]] = {}
        workflow_ids: dict[tuple[str, str], str] = {}
        for path in files:
            history = _read_history_file(path)
            convention_id = await _convention_id_of(history, path, converter)
            started = history.events[0].workflow_execution_started_event_attributes
            chain = (convention_id, started.first_execution_run_id or history.run_id)
            # Servers before 1.25 do not write the workflow id into the start event.
            workflow_ids[chain] = started_workflow_id(list(history.events)) or workflow_id_for(
                convention_id
            )
            read_from.setdefault(chain, []).append(path)
            runs = grouped.setdefault(chain, [])
            twin = next((run for run in runs if run.run_id == history.run_id), None)
            if twin is None:
                runs.append(WorkflowHistory(workflow_ids[chain], history.events))
            elif list(twin.events) != list(history.events):
                raise InvalidRequest(
                    f"{path}: run {history.run_id} appears in two files that disagree"
                )
        chains = [
            ConventionHistory(
                chain[0], workflow_ids[chain], _describe_files(read_from[chain]), _ordered(runs)
            )
            for chain, runs in sorted(grouped.items(), key=lambda item: read_from[item[0]][0])
        ]
        return cls(chains, _describe_files(files))

    @property
    def description(self) -> str:
        """The files the histories were read from."""
        return self._description

    @property
    def chains(self) -> list[ConventionHistory]:
        """Every convention history in the files, in file order."""
        return list(self._chains)

    async def convention_ids(self, query: str | None = None) -> list[str]:
        """Every convention found in the files (no visibility query on files)."""
        if query:
            raise InvalidRequest("--query: history files have no visibility to query")
        return sorted({chain.convention_id for chain in self._chains})

    async def history(self, convention_id: str) -> ConventionHistory:
        """The runs of this convention found in the files."""
        found = [chain for chain in self._chains if chain.convention_id == convention_id]
        if not found:
            raise HistoryNotFound(f"convention {convention_id!r}: not in {self._description}")
        if len(found) > 1:
            raise InvalidRequest(
                f"convention {convention_id!r}: {len(found)} different workflows in "
                f"{self._description}; give the files of one"
            )
        return found[0]


def _describe_files(files: list[Path]) -> str:
    shown = ", ".join(str(path) for path in files[:2])
    return (
        f"file {shown}"
        if len(files) == 1
        else f"files {shown}" + (f" and {len(files) - 2} more" if len(files) > 2 else "")
    )


def _history_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                found for found in sorted(path.rglob("*.json")) if found.name != "manifest.json"
            )
        elif path.exists():
            files.append(path)
        else:
            raise HistoryNotFound(f"{path}: no such file")
    if not files:
        raise HistoryNotFound("no history file (*.json) in " + ", ".join(map(str, paths)))
    return files


def _read_history_file(path: Path) -> WorkflowHistory:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidRequest(f"{path}: not a JSON history: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise InvalidRequest(f"{path}: not a Temporal history (no 'events' list)")
    try:
        # The workflow id is not in the file's top level: the start event carries it.
        history = WorkflowHistory.from_json(path.stem, document)
    except Exception as error:  # protobuf's ParseError and friends: the file is not a history
        raise InvalidRequest(f"{path}: not a Temporal history: {error}") from error
    if not history.events or not history.events[0].HasField(
        "workflow_execution_started_event_attributes"
    ):
        raise InvalidRequest(f"{path}: a history starts with WorkflowExecutionStarted")
    return history


async def _convention_id_of(history: WorkflowHistory, path: Path, converter: DataConverter) -> str:
    started = history.events[0].workflow_execution_started_event_attributes
    try:
        convention = convention_of(await decode_payloads(started.input, converter))
    except Exception as error:  # an undecodable input: say which file
        raise InvalidRequest(f"{path}: the workflow's input does not decode: {error}") from error
    if convention is not None and isinstance(convention.get("id"), str):
        return str(convention["id"])
    workflow_id = started_workflow_id(list(history.events)) or path.stem
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


def _translated(error: RPCError, what: str) -> Exception:
    if error.status is RPCStatusCode.INVALID_ARGUMENT:
        return InvalidRequest(f"{what}: {error.message}")
    if error.status is RPCStatusCode.NOT_FOUND:
        return HistoryNotFound(f"{what}: {error.message}")
    if error.status in {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}:
        return TemporalUnavailable(f"Temporal: {error.message}")
    return error
