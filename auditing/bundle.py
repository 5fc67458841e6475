"""An inspector's bundle: a convention's histories, milestones and audit report, checkable
with neither Temporal nor PostgreSQL.

DIR/histories/ holds every run as `export` writes it; DIR/milestones.jsonl every milestone
row, one JSON object per line, as PostgreSQL holds it (with its prev_hash and hash);
DIR/report.pdf the audit report; DIR/manifest.json the SHA-256 of each of them and the head
hashes of the milestone chain and of the archive chain. `check_bundle` replays the histories
(the SDK's Replayer, offline), re-chains the milestones with the very functions that wrote
them (activities/milestones.py), compares them with the histories as `verify` does, and
reads the report's text for the heads: each failure named.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import asyncpg
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from auditing.export import export_convention
from auditing.histories import ConventionHistory, FileHistories, InvalidRequest
from auditing.replay import replay_conventions
from auditing.verify import _against_history, _history_milestones, chain_findings
from records.archive_store import ENTRY_FIELDS, ArchiveEntry, entry_hash
from records.chain import GENESIS_HASH, canonical_time, chain_hash
from schemas.milestones import Milestone
from storage.milestones import stored_rows

MANIFEST = "manifest.json"
MILESTONES = "milestones.jsonl"
ARCHIVE = "archive.jsonl"
REPORT = "report.pdf"
HISTORIES = "histories"
BUNDLE_FORMAT = "pacte-audit-bundle/1"


async def stored_milestones(pool: asyncpg.Pool, convention_id: str) -> list[dict[str, Any]]:
    """Every milestone row of the convention, in seq order, as PostgreSQL holds it."""
    return await stored_rows(pool, convention_id)


def as_milestone(row: Mapping[str, Any]) -> Milestone:
    """A stored row read as the milestone it records (its chain's columns left aside).

    For readers of the record's meaning (IATI, reports); the bundle and `verify` keep the
    rows whole and raw, since they check them byte for byte, and an altered row must be
    reported, not refused by the model.
    """
    return Milestone.model_validate({name: row[name] for name in Milestone.model_fields})


def chain_head(rows: Sequence[Mapping[str, Any]]) -> str:
    """The hash of the last row (the chain's head), or the genesis value with no row."""
    return str(rows[-1]["hash"]) if rows and rows[-1].get("hash") else GENESIS_HASH


def milestone_line(row: Mapping[str, Any]) -> str:
    """A row as one JSON line: times in the chain's canonical text, so it re-hashes alike."""
    values = dict(row)
    if values.get("occurred_at") is not None:
        values["occurred_at"] = canonical_time(values["occurred_at"])
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def archive_line(entry: ArchiveEntry) -> str:
    """An archive entry as one JSON line: its chained fields, prev_hash and hash."""
    values: dict[str, Any] = {
        **entry.fields(),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }
    for name in ("started_at", "closed_at", "archived_at"):
        values[name] = canonical_time(values[name])
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class BundleHeads:
    """The chains' heads the report prints and the manifest records."""

    milestone_head: str
    milestones: int
    archive_head: str | None
    archive_entries: int


def write_bundle(
    directory: Path,
    history: ConventionHistory,
    rows: Sequence[Mapping[str, Any]],
    report_pdf: bytes,
    heads: BundleHeads,
    archive_entries: Sequence[ArchiveEntry] = (),
) -> Path:
    """Write the bundle into directory (created); returns the manifest's path."""
    directory.mkdir(parents=True, exist_ok=True)
    export = export_convention(history, directory / HISTORIES)
    (directory / MILESTONES).write_text(
        "".join(milestone_line(row) + "\n" for row in rows), encoding="utf-8"
    )
    (directory / ARCHIVE).write_text(
        "".join(archive_line(entry) + "\n" for entry in archive_entries), encoding="utf-8"
    )
    (directory / REPORT).write_bytes(report_pdf)
    files = sorted(
        [f"{HISTORIES}/{run.file}" for run in export.runs] + [MILESTONES, ARCHIVE, REPORT]
    )
    manifest = {
        "format": BUNDLE_FORMAT,
        "convention_id": history.convention_id,
        "workflow_id": history.workflow_id,
        "source": history.source,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": [run.model_dump(mode="json") for run in export.runs],
        "files": {name: _sha256(directory / name) for name in files},
        "milestone_chain_head": heads.milestone_head,
        "milestones": heads.milestones,
        "archive_chain_head": heads.archive_head,
        "archive_entries": heads.archive_entries,
    }
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class BundleCheck:
    """What check-bundle found: one message per failure, and what held."""

    convention_id: str | None
    failures: list[str]
    passed: list[str]

    @property
    def ok(self) -> bool:
        """No failure."""
        return not self.failures


def _read_rows(path: Path, failures: list[str]) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            failures.append(f"{MILESTONES} line {number}: not JSON: {error}")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("seq"), int):
            failures.append(f"{MILESTONES} line {number}: not a milestone row (no seq)")
            continue
        rows[row["seq"]] = row
    return rows


def _history_paths(directory: Path) -> list[Path]:
    return sorted((directory / HISTORIES).glob("run-*.json"))


def pdf_text(pdf: bytes) -> str:
    """The report's text, as a reader copies it out of the PDF."""
    # pypdf logs what it repairs; check-bundle reports an unreadable PDF itself, once.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    reader = PdfReader(BytesIO(pdf))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


async def check_bundle(
    directory: Path, converter: DataConverter = pydantic_data_converter
) -> BundleCheck:
    """Every check a bundle allows, offline; never stops at the first failure."""
    failures: list[str] = []
    passed: list[str] = []
    manifest_path = directory / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return BundleCheck(None, [f"{MANIFEST}: unreadable: {error}"], [])
    convention_id = manifest.get("convention_id")
    if not isinstance(convention_id, str):
        return BundleCheck(None, [f"{MANIFEST}: no convention_id"], [])

    # 1. Every file against its SHA-256; every history file listed.
    listed: dict[str, str] = manifest.get("files") or {}
    for name, digest in sorted(listed.items()):
        path = directory / name
        if not path.exists():
            failures.append(f"{name}: missing from the bundle")
        elif _sha256(path) != digest:
            failures.append(f"{name}: does not match its SHA-256 in {MANIFEST}: altered")
    on_disk = {f"{HISTORIES}/{path.name}" for path in (directory / HISTORIES).glob("*.json")}
    on_disk.discard(f"{HISTORIES}/manifest.json")
    for name in sorted(on_disk - set(listed)):
        failures.append(f"{name}: a history file the manifest does not list")
    for required in (MILESTONES, REPORT):
        if required not in listed:
            failures.append(f"{required}: not listed in {MANIFEST}")
    if not failures:
        passed.append(f"{len(listed)} files match their SHA-256")

    # 2. The histories: this convention's, and they replay.
    history: ConventionHistory | None = None
    paths = _history_paths(directory)
    try:
        if not paths:
            raise InvalidRequest(f"no history file (run-NN.json) in {directory / HISTORIES}")
        chains = (await FileHistories.load(paths, converter)).chains
        others = sorted({chain.convention_id for chain in chains} - {convention_id})
        if others:
            failures.append(
                f"{HISTORIES}: holds the history of another convention ({', '.join(others)}), "
                f"not only {convention_id}'s"
            )
        ours = [chain for chain in chains if chain.convention_id == convention_id]
        if len(ours) == 1:
            history = ours[0]
        elif not ours:
            failures.append(f"{HISTORIES}: no history of {convention_id}")
        else:
            failures.append(f"{HISTORIES}: {len(ours)} different workflows of {convention_id}")
    except (InvalidRequest, LookupError) as error:
        failures.append(f"{HISTORIES}: {error}")
    if history is not None:
        async for result in replay_conventions(_single(history), data_converter=converter):
            failure = result.first_failure
            if failure is None:
                events = sum(run.events for run in result.runs)
                passed.append(f"{len(result.runs)} run(s), {events} events replay")
            else:
                failures.append(
                    f"{HISTORIES}: run {failure.run_id} does not replay: event "
                    f"{failure.event_id} {failure.event_type}: {failure.detail}"
                )

    # 3. The milestones: their chain, and against the history.
    rows = _read_rows(directory / MILESTONES, failures) if (directory / MILESTONES).exists() else {}
    chain = chain_findings(convention_id, rows)
    failures += [f"{MILESTONES}: {finding.message}" for finding in chain]
    if history is not None:
        expected, _ = await _history_milestones(history, converter)
        findings = _against_history(convention_id, expected, rows, set())
        failures += [f"{MILESTONES}: {finding.message}" for finding in findings]
        if not chain and not findings:
            passed.append(f"{len(rows)} milestones chained and agree with the history")
    head = chain_head([rows[seq] for seq in sorted(rows)])
    if head != manifest.get("milestone_chain_head"):
        failures.append(
            f"{MILESTONES}: the chain's head is {head}, the manifest says "
            f"{manifest.get('milestone_chain_head')}"
        )
    # Recomputed from the rows themselves: the head is what the whole chain hashes to.
    ordered = [rows[seq] for seq in sorted(rows)]
    if ordered and all(row.get("hash") for row in ordered):
        previous = GENESIS_HASH
        for row in ordered:
            previous = chain_hash(previous, row)
        if previous != head:
            failures.append(f"{MILESTONES}: the rows re-chained end at {previous}, not {head}")

    # 4. The archive's entries: their chain, and the histories they vouch for.
    archive_head = _check_archive(directory, manifest, failures, passed)

    # 5. The report prints the heads the bundle holds.
    report = directory / REPORT
    if report.exists():
        try:
            text = "".join(pdf_text(report.read_bytes()).split())
        except (PdfReadError, ValueError, OSError) as error:
            failures.append(f"{REPORT}: not a readable PDF: {error}")
        else:
            wanted = {"milestone chain head": head}
            if archive_head is not None:
                wanted["archive chain head"] = archive_head
            for label, value in wanted.items():
                if value not in text:
                    failures.append(f"{REPORT}: does not show the {label} {value}")
            if convention_id not in text:
                failures.append(f"{REPORT}: is not the report of {convention_id}")
            if all(value in text for value in wanted.values()):
                passed.append(f"{REPORT} shows the chains' heads")
    elif REPORT in listed:
        pass  # named already, with the other files the manifest lists
    else:
        failures.append(f"{REPORT}: missing from the bundle")
    return BundleCheck(convention_id, failures, passed)


def _check_archive(
    directory: Path, manifest: Mapping[str, Any], failures: list[str], passed: list[str]
) -> str | None:
    """Re-chain the archive entries and match each with its history file; their head."""
    path = directory / ARCHIVE
    if not path.exists():
        if manifest.get("archive_chain_head"):
            failures.append(f"{ARCHIVE}: missing, yet the manifest names an archive chain head")
        return None
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            failures.append(f"{ARCHIVE} line {number}: not JSON: {error}")
            continue
        if isinstance(entry, dict) and isinstance(entry.get("seq"), int):
            entries.append(entry)
        else:
            failures.append(f"{ARCHIVE} line {number}: not an archive entry (no seq)")
    files_of_runs = {run["run_id"]: run["file"] for run in manifest.get("runs") or []}
    previous, before = GENESIS_HASH, 0
    problems = len(failures)
    for entry in sorted(entries, key=lambda item: int(item["seq"])):
        where = f"{ARCHIVE}: entry #{entry['seq']} (run {entry.get('run_id')})"
        if entry["seq"] != before + 1:
            failures.append(f"{where}: entry #{before + 1} is missing before it")
        elif entry.get("prev_hash") != previous:
            failures.append(f"{where}: prev_hash does not match the hash of the entry before it")
        fields = {name: entry.get(name) for name in ENTRY_FIELDS}
        if entry_hash(str(entry.get("prev_hash") or ""), fields) != entry.get("hash"):
            failures.append(f"{where}: its fields do not match its hash: edited")
        run_file = files_of_runs.get(str(entry.get("run_id")))
        if run_file is None:
            failures.append(f"{where}: the archived run is not among the bundle's histories")
        elif (directory / HISTORIES / run_file).exists() and _sha256(
            directory / HISTORIES / run_file
        ) != entry.get("history_sha256"):
            failures.append(
                f"{where}: {HISTORIES}/{run_file} is not the history archived (sha256 differs)"
            )
        previous, before = str(entry.get("hash")), int(entry["seq"])
    head = previous if entries else None
    if head != manifest.get("archive_chain_head"):
        failures.append(
            f"{ARCHIVE}: the chain's head is {head}, the manifest says "
            f"{manifest.get('archive_chain_head')}"
        )
    if len(failures) == problems and entries:
        passed.append(f"{len(entries)} archive entries chained and match their histories")
    return head


async def _single(history: ConventionHistory) -> AsyncIterator[ConventionHistory]:
    yield history
