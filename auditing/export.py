"""Writing a convention's histories to files: one JSON file per run, and a manifest.

The files are what `temporal workflow show --output json` writes (the SDK's JSON of the same
protobuf History, keys sorted), so `replay --file`, the Temporal CLI and the Web UI's import
all read them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from auditing.histories import ConventionHistory
from records.history_events import closed_as, history_file_bytes
from schemas.audit import ExportedRun, ExportManifest

MANIFEST = "manifest.json"


def run_file_name(index: int) -> str:
    """run-01.json, run-02.json…: the runs in order, names that do not change on re-export."""
    return f"run-{index:02d}.json"


def export_convention(convention: ConventionHistory, directory: Path) -> ExportManifest:
    """Write every run of the convention into directory (created), with manifest.json."""
    directory.mkdir(parents=True, exist_ok=True)
    runs: list[ExportedRun] = []
    for index, history in enumerate(convention.runs, start=1):
        name = run_file_name(index)
        content = history_file_bytes(history)
        (directory / name).write_bytes(content)
        runs.append(
            ExportedRun(
                run_id=history.run_id,
                file=name,
                sha256=hashlib.sha256(content).hexdigest(),
                events=len(history.events),
                started_at=history.events[0].event_time.ToDatetime(tzinfo=UTC),
                closed_as=closed_as(history.events[-1]),
            )
        )
    # A run left over from an earlier export with more runs would be read as part of this one.
    for stale in sorted(directory.glob("run-*.json")):
        if stale.name not in {run.file for run in runs}:
            stale.unlink()
    manifest = ExportManifest(
        convention_id=convention.convention_id,
        workflow_id=convention.workflow_id,
        source=convention.source,
        exported_at=datetime.now(UTC),
        runs=runs,
    )
    (directory / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return manifest
