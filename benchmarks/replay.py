"""Benchmark 3, auditors' replay: histories/s and events/s over N recorded conventions.

The conventions are recorded first (Bamako shape, played to completion on this run's own
servers, each exported with `auditing.export.export_convention` as `audit.py export` writes it),
or read back from `--histories DIR` when an earlier run left N there. Then, on the very same
histories, alternating the sides:

- in memory: the project's `auditing.replay.replay_conventions` (what `audit.py replay` runs)
  against the bare SDK `Replayer(workflows=[ConventionWorkflow], pydantic converter)
  .replay_workflows(...)`;
- from files: `auditing.histories.FileHistories.load` then `replay_conventions` (what
  `audit.py replay --file DIR` runs, less the process start) against
  `WorkflowHistory.from_json` of each file then the bare Replayer.

Target: the project's path at least 0.9 of the bare one.

    .venv/bin/python -m benchmarks.replay [--count 1000] [--histories DIR] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from auditing.export import MANIFEST, export_convention
from auditing.histories import ConventionHistory, FileHistories, TemporalHistories
from auditing.replay import WORKFLOWS, replay_conventions
from benchmarks.bamako import bamako_answers, bamako_convention, play_convention, run_bounded
from benchmarks.report import (
    add_common_arguments,
    finish,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from benchmarks.worker import BenchmarkWorker
from devkit.stack import Servers

TARGET = 0.9


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--count histories (default 1000; quick 20); --histories DIR to keep or reuse them."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument("--count", type=int, help="conventions (default 1000; quick 20)")
    parser.add_argument(
        "--histories",
        type=Path,
        help="directory of exported histories: reused when it holds --count of them, "
        "else filled (default: a temporary directory)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=30, help="conventions played at once when recording"
    )
    parser.add_argument("--rounds", type=int, help="alternations of the sides (default 2)")
    args = parser.parse_args(argv)
    args.count = args.count or (20 if args.quick else 1000)
    args.rounds = args.rounds or 2
    return args


def recorded(directory: Path) -> list[Path]:
    """Convention directories holding an exported history (with its manifest)."""
    if not directory.exists():
        return []
    return sorted(path.parent for path in directory.glob(f"*/{MANIFEST}"))


async def _record(servers: Servers, directory: Path, count: int, concurrency: int) -> None:
    client = await servers.client()
    source = TemporalHistories(client)
    run = uuid.uuid4().hex[:6]
    started = time.perf_counter()

    async def one(index: int) -> None:
        convention = bamako_convention(f"replay-{run}-{index:05d}")
        await play_convention(client, convention, bamako_answers())
        history = await source.history(convention.id)
        export_convention(history, directory / history.workflow_id)

    def progress(done: int) -> None:
        if done % 50 == 0 or done == count:
            elapsed = time.perf_counter() - started
            print(
                f"   recorded {done}/{count} conventions ({done / elapsed:.1f}/s)",
                flush=True,
            )

    with BenchmarkWorker(servers, pacte=True):
        await run_bounded(
            [partial(one, index) for index in range(count)], concurrency, progress=progress
        )


async def _each(chains: Sequence[ConventionHistory]) -> AsyncIterator[ConventionHistory]:
    for chain in chains:
        yield chain


async def project_replay(chains: Sequence[ConventionHistory]) -> tuple[int, int, int]:
    """auditing.replay over the conventions: (histories, events, failures)."""
    histories = events = failures = 0
    async for result in replay_conventions(_each(chains)):
        histories += len(result.runs)
        events += sum(run.events for run in result.runs)
        failures += not result.ok
    return histories, events, failures


async def _stream(histories: Sequence[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


async def bare_replay(histories: Sequence[WorkflowHistory]) -> tuple[int, int, int]:
    """The SDK's Replayer over the same histories: (histories, events, failures)."""
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=pydantic_data_converter)
    results = await replayer.replay_workflows(_stream(histories), raise_on_replay_failure=False)
    failures = len(results.replay_failures)
    return len(histories), sum(len(h.events) for h in histories), failures


def bare_load(directories: Sequence[Path]) -> list[WorkflowHistory]:
    """Every run file, read as the SDK reads `temporal workflow show --output json`."""
    histories = []
    for directory in directories:
        for path in sorted(directory.glob("run-*.json")):
            document = json.loads(path.read_text(encoding="utf-8"))
            histories.append(WorkflowHistory.from_json(directory.name, document))
    return histories


@dataclass
class Tally:
    """What one side replayed, and in how long."""

    histories: int = 0
    events: int = 0
    seconds: float = 0.0
    failures: int = 0

    def add(self, figures: tuple[int, int, int], seconds: float) -> None:
        """Add one pass: (histories, events, failures) in seconds."""
        self.histories += figures[0]
        self.events += figures[1]
        self.failures += figures[2]
        self.seconds += seconds

    @property
    def rate(self) -> float:
        """Histories per second."""
        return self.histories / self.seconds


async def _measure(args: argparse.Namespace, directories: list[Path]) -> int:
    memory = {"Pacte": Tally(), "bare": Tally()}
    loading = {"Pacte": 0.0, "bare": 0.0}
    # A warm-up of each side on one history, untimed: the sandbox's first imports.
    await bare_replay(bare_load(directories[:1]))
    await project_replay((await FileHistories.load(directories[:1])).chains)
    for number in range(1, args.rounds + 1):
        # Each round swaps which side goes first: neither always meets a warmer process.
        order = ("bare", "Pacte") if number % 2 else ("Pacte", "bare")
        print_load(f"round {number}/{args.rounds} ({' then '.join(order)})")
        for side in order:
            started = time.perf_counter()
            if side == "bare":
                histories = bare_load(directories)
                loaded = time.perf_counter()
                memory[side].add(await bare_replay(histories), time.perf_counter() - loaded)
            else:
                chains = (await FileHistories.load(directories)).chains
                loaded = time.perf_counter()
                memory[side].add(await project_replay(chains), time.perf_counter() - loaded)
            loading[side] += loaded - started
    # From files: the same replays, plus reading the files.
    files = {
        side: Tally(tally.histories, tally.events, tally.seconds + loading[side], tally.failures)
        for side, tally in memory.items()
    }
    rows: list[list[object]] = []
    for label, tally in (
        ("auditing.replay.replay_conventions", memory["Pacte"]),
        ("bare Replayer.replay_workflows", memory["bare"]),
        ("FileHistories.load + replay_conventions", files["Pacte"]),
        ("WorkflowHistory.from_json + bare Replayer", files["bare"]),
    ):
        rows.append(
            [
                label,
                tally.histories,
                tally.events,
                tally.seconds,
                tally.rate,
                tally.events / tally.seconds,
                tally.failures,
            ]
        )
    print_table(
        ["replay path", "histories", "events", "seconds", "histories/s", "events/s", "failed"],
        rows,
    )
    for label, tallies in (("in memory", memory), ("from files", files)):
        print_ratio(
            f"Pacte / bare replay histories per second ({label})",
            tallies["Pacte"].rate / tallies["bare"].rate,
            target=TARGET,
            at_least=True,
        )
    failed = memory["Pacte"].failures + memory["bare"].failures
    if failed:
        print(f"   {failed} replays FAILED: the figures above are not comparable")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Record (or reuse) the histories, then replay them both ways."""
    args = parse_arguments(argv)
    print_header("auditors' replay", {"count": args.count, "rounds": args.rounds})
    directory = args.histories or Path(tempfile.mkdtemp(prefix="pacte-bench-histories-"))
    try:
        have = recorded(directory)
        if len(have) < args.count:
            missing = args.count - len(have)
            print(f"   recording {missing} conventions into {directory}", flush=True)
            with Servers(keep=args.keep) as servers:
                asyncio.run(_record(servers, directory, missing, args.concurrency))
            have = recorded(directory)
        else:
            print(f"   reusing the histories in {directory}", flush=True)
        return asyncio.run(_measure(args, have[: args.count]))
    finally:
        if args.histories is None and not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    finish(main)
