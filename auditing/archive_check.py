"""Is a convention's archive intact, complete, and the same as what Temporal still holds?

Checked for each entry, each naming the convention, the entry's seq and its run:
- its hash against its fields, and its prev_hash against its predecessor's hash: an edited,
  removed or inserted entry breaks the chain (as the milestones' chain does);
- its history against its sha256 (an altered byte in the compressed history is found) and
  against the entry (run id, events, how it closed);
- against Temporal, while Temporal still has the run: the same events.
And for the convention: every closed run Temporal holds is archived (or still pending, with
no failure yet), and every run the continue-as-new links name is somewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditing.archive_source import GatheredHistory
from records.archive_store import ArchiveDamaged, StoredEntry, entry_hash, read_history
from records.chain import GENESIS_HASH
from records.history_events import closed_as
from schemas.archive import ArchiveCheck, ArchiveFailure, ArchiveFinding, ArchiveProblem


def check_archive(
    gathered: GatheredHistory, failures: Sequence[ArchiveFailure], source: str
) -> ArchiveCheck:
    """Every finding about the convention's archive; none when it is intact and complete."""
    convention_id = gathered.convention_id
    findings: list[ArchiveFinding] = []

    def finding(seq: int | None, run_id: str | None, problem: ArchiveProblem, text: str) -> None:
        where = f"archive #{seq}" if seq is not None else "archive"
        run = f" (run {run_id})" if run_id and seq is not None else ""
        findings.append(
            ArchiveFinding(
                convention_id=convention_id,
                seq=seq,
                run_id=run_id,
                problem=problem,
                message=f"{convention_id} {where}{run}: {text}",
            )
        )

    contents = gathered.contents
    for item in contents.unreadable:
        finding(item.seq, None, ArchiveProblem.ENTRY_UNREADABLE, f"{item.location}: {item.reason}")
    by_seq: dict[int, StoredEntry] = {}
    runs: set[str] = set()
    for stored in contents.entries:
        entry = stored.entry
        if entry.seq in by_seq:
            finding(entry.seq, entry.run_id, ArchiveProblem.ENTRY_UNREADABLE, "a second entry")
            continue
        by_seq[entry.seq] = stored
        if entry.run_id in runs:
            finding(
                entry.seq, entry.run_id, ArchiveProblem.DUPLICATE_RUN, "the run is archived twice"
            )
        runs.add(entry.run_id)
    unreadable_seqs = {item.seq for item in contents.unreadable if item.seq is not None}
    for seq in range(1, max([*by_seq, *unreadable_seqs], default=0) + 1):
        if seq not in by_seq and seq not in unreadable_seqs:
            finding(
                seq,
                None,
                ArchiveProblem.ENTRY_MISSING,
                "missing: removed, or never written (the entries after it chain to it)",
            )
    for seq, stored in sorted(by_seq.items()):
        for problem, text in _entry_problems(stored, by_seq, gathered):
            finding(seq, stored.entry.run_id, problem, text)

    failed = {failure.run_id: failure for failure in failures}
    pending: list[str] = []
    for run_id, history in gathered.temporal_runs.items():
        if run_id in runs or closed_as(history.events[-1]) is None:
            continue
        failure = failed.pop(run_id, None)
        if failure is None:
            pending.append(run_id)  # closed since the last sweep: the next one takes it
        else:
            finding(None, run_id, ArchiveProblem.NOT_ARCHIVED, _failed(failure, run_id))
    for run_id, failure in failed.items():
        if run_id not in runs:
            finding(
                None,
                run_id,
                ArchiveProblem.NOT_ARCHIVED,
                _failed(failure, run_id) + " — and Temporal no longer has it",
            )
    where = gathered.history.source if gathered.history else f"Temporal or {source}"
    for lost in gathered.lost:
        finding(
            None,
            lost.run_id,
            ArchiveProblem.RUN_LOST,
            f"run {lost.run_id} ({lost.relation} run {lost.linked_from}) is in neither {where}",
        )
    findings.sort(key=lambda item: (item.seq or 0, item.problem.value))
    return ArchiveCheck(
        source=source, entries=len(contents.entries), pending_runs=pending, findings=findings
    )


def _failed(failure: ArchiveFailure, run_id: str) -> str:
    return (
        f"run {run_id} could not be archived ({failure.attempts} attempt"
        f"{'s' * (failure.attempts > 1)} since {failure.first_failed_at:%Y-%m-%d %H:%M} UTC): "
        f"{failure.error}"
    )


def _entry_problems(
    stored: StoredEntry, by_seq: dict[int, StoredEntry], gathered: GatheredHistory
) -> list[tuple[ArchiveProblem, str]]:
    entry = stored.entry
    problems: list[tuple[ArchiveProblem, str]] = []
    recomputed = entry_hash(entry.prev_hash, entry.fields())
    if recomputed != entry.hash:
        problems.append(
            (
                ArchiveProblem.HASH_MISMATCH,
                f"its fields do not match its hash (stored {entry.hash[:12]}…, computed "
                f"{recomputed[:12]}…): edited after it was archived",
            )
        )
    predecessor = by_seq.get(entry.seq - 1)
    wanted = GENESIS_HASH if entry.seq == 1 else predecessor.entry.hash if predecessor else None
    if wanted is not None and entry.prev_hash != wanted:
        problems.append(
            (
                ArchiveProblem.CHAIN_BROKEN,
                f"prev_hash does not match the hash of #{entry.seq - 1}"
                if entry.seq > 1
                else "prev_hash of the first entry is not the genesis value",
            )
        )
    if stored.blob is None:
        problems.append(
            (ArchiveProblem.CONTENT_MISSING, f"its history is missing ({stored.location})")
        )
        return problems
    history = gathered.read.get(entry.seq)
    if history is None:
        try:
            history = read_history(stored)
        except ArchiveDamaged as error:
            history = error
    if isinstance(history, ArchiveDamaged):
        reason = str(history).split("): ", 1)[-1]
        return [*problems, (ArchiveProblem.CONTENT_ALTERED, reason)]
    events = list(history.events)
    recorded = (history.run_id, len(events), closed_as(events[-1]))
    if recorded != (entry.run_id, entry.events, entry.closed_as):
        problems.append(
            (
                ArchiveProblem.ENTRY_DISAGREES,
                f"the entry says run {entry.run_id}, {entry.events} events, {entry.closed_as}; "
                f"its history run {recorded[0]}, {recorded[1]} events, {recorded[2]}",
            )
        )
    in_temporal = gathered.temporal_runs.get(entry.run_id)
    if in_temporal is not None and list(in_temporal.events) != events:
        problems.append(
            (
                ArchiveProblem.DIFFERS_FROM_TEMPORAL,
                "the archived history differs from the one Temporal still holds",
            )
        )
    return problems
