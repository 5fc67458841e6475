"""Do PostgreSQL's milestones agree with the history, and is their hash chain intact?

Two independent checks, each naming the convention, the seq and (when it can) the field:
- against the history: every milestone the workflow persisted is there, none extra, none
  different (the persist_milestone activities' inputs are the workflow's own record);
- against the chain: each row's hash covers its content and its predecessor's hash, so an
  edited, deleted or inserted row breaks it, even with no history left to compare with.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from auditing.decode import PERSIST_MILESTONE, RunClosed, ScheduledActivity, read_run
from auditing.histories import ConventionHistory
from documents.anchoring import verify_anchors
from records.chain import CHAINED_FIELDS, GENESIS_HASH, canonical_fields, chain_hash
from schemas.archive import RunClose
from schemas.audit import EventOutcome, VerifyFinding, VerifyProblem, VerifyReport
from schemas.milestone_details import ConventionTerminatedDetails, details_as
from storage.milestones import stored_rows


@dataclass(frozen=True)
class _Expected:
    """A milestone as the history has it."""

    fields: dict[str, Any]
    run_id: str
    persisted: bool


async def verify_convention(
    pool: asyncpg.Pool,
    convention_id: str,
    history: ConventionHistory | None,
    source: str,
    converter: DataConverter = pydantic_data_converter,
    *,
    unreadable_runs: Collection[str] = (),
) -> VerifyReport:
    """Check one convention's rows against its history (if any) and against their chain.

    `converter` decodes the history's payloads (the configured one reads encrypted ones).
    Rows of `unreadable_runs` (runs whose archived history is damaged or lost, reported by
    the archive check) are checked by the chain alone, not reported one by one as extra.
    """
    rows = {row["seq"]: row for row in await stored_rows(pool, convention_id)}
    findings: list[VerifyFinding] = []
    expected: dict[int, _Expected] = {}
    if history is None:
        findings.append(
            VerifyFinding(
                convention_id=convention_id,
                seq=None,
                problem=VerifyProblem.NO_HISTORY,
                message=f"{convention_id}: no history in {source}: rows checked by chain only",
            )
        )
    else:
        expected, terminations = await _history_milestones(history, converter)
        rows_to_check = {
            seq: row
            for seq, row in rows.items()
            if not _recorded_for_temporal_terminate(row, expected, terminations)
        }
        findings.extend(
            _against_history(convention_id, expected, rows_to_check, set(unreadable_runs))
        )
    findings.extend(chain_findings(convention_id, rows))
    findings.sort(key=lambda finding: (finding.seq or 0, finding.problem.value))
    return VerifyReport(
        convention_id=convention_id,
        source=source,
        history_milestones=sum(1 for item in expected.values() if item.persisted),
        pending_milestones=sum(1 for item in expected.values() if not item.persisted),
        rows=len(rows),
        findings=findings,
    )


def _recorded_for_temporal_terminate(
    row: Mapping[str, Any], expected: Mapping[int, _Expected], terminations: Mapping[str, str]
) -> bool:
    """The convention_terminated row `starter.py terminate` chains when Temporal had to end a
    workflow that could not take the officer's update (it could never write it itself): in
    no history's activities, but vouched for by its run's terminate event, which carries
    the same reason, and written after every milestone the history has."""
    # A row that does not read as a convention_terminated one (another kind, edited details)
    # is not vouched for.
    details = details_as(row, ConventionTerminatedDetails)
    detail = terminations.get(row.get("run_id") or "")
    return (
        details is not None
        and details.by_temporal
        and detail is not None
        and detail.startswith(details.reason)
        and all(seq < row["seq"] for seq in expected)
    )


async def _history_milestones(
    history: ConventionHistory, converter: DataConverter
) -> tuple[dict[int, _Expected], dict[str, str]]:
    """The milestones the history persisted, and the runs Temporal terminated (their reason)."""
    expected: dict[int, _Expected] = {}
    terminations: dict[str, str] = {}
    for run in history.runs:
        record = await read_run(run, converter)
        for item in record.items:
            if isinstance(item, RunClosed) and item.closed_as is RunClose.TERMINATED:
                terminations[record.run_id] = item.detail or ""
            if not (
                isinstance(item, ScheduledActivity) and item.activity_type == PERSIST_MILESTONE
            ):
                continue
            milestone = item.input[0] if item.input and isinstance(item.input[0], dict) else None
            if milestone is None or not isinstance(milestone.get("seq"), int):
                continue
            expected[milestone["seq"]] = _Expected(
                fields=milestone,
                run_id=record.run_id,
                persisted=item.outcome is EventOutcome.COMPLETED,
            )
    return expected, terminations


def _against_history(
    convention_id: str,
    expected: Mapping[int, _Expected],
    rows: Mapping[int, dict[str, Any]],
    unreadable_runs: set[str],
) -> list[VerifyFinding]:
    findings: list[VerifyFinding] = []
    unchecked: dict[str, int] = {}
    for seq, milestone in sorted(expected.items()):
        row = rows.get(seq)
        if row is None:
            if milestone.persisted:
                findings.append(
                    VerifyFinding(
                        convention_id=convention_id,
                        seq=seq,
                        problem=VerifyProblem.MISSING,
                        expected=milestone.fields.get("kind"),
                        message=(
                            f"{convention_id} #{seq}: missing from PostgreSQL "
                            f"(history: {milestone.fields.get('kind')}, "
                            f"{milestone.fields.get('summary')!r})"
                        ),
                    )
                )
            continue
        findings.extend(_differences(convention_id, seq, milestone, row))
    for seq, row in sorted(rows.items()):
        if seq not in expected and row["run_id"] in unreadable_runs:
            unchecked[row["run_id"]] = unchecked.get(row["run_id"], 0) + 1
        elif seq not in expected:
            findings.append(
                VerifyFinding(
                    convention_id=convention_id,
                    seq=seq,
                    problem=VerifyProblem.EXTRA,
                    found=row["kind"],
                    message=(
                        f"{convention_id} #{seq}: extra row, not in the history "
                        f"({row['kind']}, {row['summary']!r})"
                    ),
                )
            )
    for run_id, count in unchecked.items():
        findings.append(
            VerifyFinding(
                convention_id=convention_id,
                seq=None,
                problem=VerifyProblem.NO_HISTORY,
                message=(
                    f"{convention_id}: {count} row(s) of run {run_id} not checked against a "
                    "history: the run's history is damaged or lost (see the archive's findings)"
                ),
            )
        )
    return findings


def _differences(
    convention_id: str, seq: int, milestone: _Expected, row: Mapping[str, Any]
) -> list[VerifyFinding]:
    history_fields = canonical_fields(milestone.fields)
    row_fields = canonical_fields(row)
    findings = [
        VerifyFinding(
            convention_id=convention_id,
            seq=seq,
            problem=VerifyProblem.DIFFERENT,
            field=name,
            expected=history_fields[name],
            found=row_fields[name],
            message=(
                f"{convention_id} #{seq} {name}: PostgreSQL has {row_fields[name]!r}, "
                f"the history {history_fields[name]!r}"
            ),
        )
        for name in CHAINED_FIELDS
        if history_fields[name] != row_fields[name]
    ]
    if row["run_id"] != milestone.run_id:
        findings.append(
            VerifyFinding(
                convention_id=convention_id,
                seq=seq,
                problem=VerifyProblem.DIFFERENT,
                field="run_id",
                expected=milestone.run_id,
                found=row["run_id"],
                message=(
                    f"{convention_id} #{seq} run_id: PostgreSQL has {row['run_id']!r}, "
                    f"the history {milestone.run_id!r}"
                ),
            )
        )
    return findings


def chain_findings(
    convention_id: str, rows: Mapping[int, Mapping[str, Any]]
) -> list[VerifyFinding]:
    """Each row's hash against its content, and its prev_hash against its predecessor."""
    findings: list[VerifyFinding] = []

    def finding(seq: int, problem: VerifyProblem, message: str, **values: Any) -> None:
        findings.append(
            VerifyFinding(
                convention_id=convention_id,
                seq=seq,
                problem=problem,
                message=f"{convention_id} #{seq}: {message}",
                **values,
            )
        )

    for seq, row in sorted(rows.items()):
        if row["hash"] is None:
            finding(
                seq,
                VerifyProblem.UNCHAINED,
                "no hash: written before the hash chain (migration 003) or inserted by hand",
            )
            continue
        recomputed = chain_hash(row["prev_hash"] or "", row)
        if recomputed != row["hash"]:
            finding(
                seq,
                VerifyProblem.HASH_MISMATCH,
                "the row's content does not match its hash: edited after it was written",
                field="hash",
                expected=recomputed,
                found=row["hash"],
            )
        if seq == 1:
            wanted = GENESIS_HASH
        elif seq - 1 not in rows:
            finding(
                seq,
                VerifyProblem.CHAIN_BROKEN,
                f"its predecessor #{seq - 1} is missing: deleted, or never written",
                field="prev_hash",
                found=row["prev_hash"],
            )
            continue
        else:
            # After an unchained (pre-migration) row, the chain starts again from genesis.
            wanted = rows[seq - 1]["hash"] or GENESIS_HASH
        if row["prev_hash"] != wanted:
            finding(
                seq,
                VerifyProblem.CHAIN_BROKEN,
                f"prev_hash does not match the hash of #{seq - 1}"
                if seq > 1
                else "prev_hash of the first milestone is not the genesis value",
                field="prev_hash",
                expected=wanted,
                found=row["prev_hash"],
            )
    return findings


async def anchor_findings(
    pool: asyncpg.Pool, convention_id: str, trust_roots: list[Path]
) -> tuple[int, list[VerifyFinding]]:
    """The convention's timestamp tokens against its rows as they are now: (tokens checked,
    findings). A chain recomputed end to end after an anchor breaks that anchor, named by
    the milestone it pinned; a token altered or from an untrusted authority is named too."""
    try:
        checked, problems = await verify_anchors(pool, convention_id, trust_roots)
    except asyncpg.UndefinedTableError:  # a database from before migration 010: no anchors
        return 0, []
    return checked, [
        VerifyFinding(
            convention_id=convention_id,
            seq=problem.head_seq,
            problem=VerifyProblem.ANCHOR_BROKEN,
            message=f"{convention_id} #{problem.head_seq} anchor: {problem.reason}",
        )
        for problem in problems
    ]
