"""Run every benchmark in one sitting, each in its own process with its own servers.

    .venv/bin/python -m benchmarks.run_all [--quick | --smoke] [--only lifecycle,replay]
        [--output FILE] [--table PAGE]

Each benchmark's output is printed as it comes and written to one dated results file
(`benchmarks/results/<date>-run_all.txt`, or `--output`); at the end, every `ratio` line
again, the aims beside the targets (a run block of their own, `run_all: aims`), and the
docs' benchmark table is regenerated from the results directory holding that file
(`docs/benchmarks/table.md`, or `--table`). The exit code is non-zero if a benchmark itself
failed (a target not met is a figure, not a failure). `--smoke` runs the tiniest sizes: it
proves the scripts work and measures nothing, so it writes a file and a table only where
`--output` and `--table` say (never into the kept results).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

from benchmarks import results_table
from benchmarks.report import finish, load_average
from infra.settings import PROJECT_ROOT

BENCHMARKS = [
    "lifecycle",
    "answer_latency",
    "replay",
    "persistence",
    "scale",
    "portfolio",
    "partner_desk",
    "milestone_count",
    "directory_check",
    "conventions_search",
    "bursts",
    "record_outputs",
    "record_rendering",
    "task_list",
    "documents",
    "editor",
    "people_load",
    "reassign_choices",
]
SMOKE = {
    "editor": ["--requests", "3"],
    "lifecycle": ["--count", "2", "--concurrency", "2", "--rounds", "1"],
    "answer_latency": ["--conventions", "1"],
    "replay": ["--count", "2", "--rounds", "1"],
    "persistence": ["--rows", "64", "--writers", "10"],
    "scale": ["--count", "6", "--wave", "3", "--repeats", "1"],
    "portfolio": ["--conventions", "50", "--requests", "2", "--charts", "1"],
    "partner_desk": [
        "--conventions",
        "1",
        "--partners",
        "2",
        "--tasks",
        "4",
        "--page-requests",
        "2",
    ],
    "milestone_count": ["--milestones", "20,80", "--rounds", "2"],
    "directory_check": ["--conventions", "1"],
    "conventions_search": ["--conventions", "200", "--rounds", "1"],
    "bursts": ["--burst", "10", "--pages", "3"],
    "record_outputs": ["--lines", "100"],
    "record_rendering": ["--quick", "--rounds", "1"],
    "task_list": [
        "--tasks",
        "20",
        "--conventions",
        "4",
        "--spread",
        "20",
        "--organisations",
        "4",
        "--people",
        "2",
        "--requests",
        "3",
    ],
    "documents": ["--size-mb", "1", "--rounds", "1", "--seals", "1"],
    # Two replicas and the kill run kept (the failover is what it measures), one worker.
    "people_load": ["--tasks", "4", "--contacts", "1", "--systems", "1", "--workers", "1"],
    "reassign_choices": ["--quick"],
}


AIMS = {
    ("lifecycle", "Pacte / straightforward conventions per second"): (">=", 1.5),
    ("answer_latency", "Pacte / bare update latency p50"): ("<=", 1.1),
    ("answer_latency", "Pacte / bare update latency p95"): ("<=", 1.1),
}
"""Beyond the targets, what the project aims at (README): the lifecycle 1.5 x the
straightforward Temporal implementation, an answer within 1.1 x a bare update."""

_RATIO = re.compile(r"^ratio\s+(?P<what>.+?):\s+(?P<value>[0-9][0-9.,]*)\s+\((?P<target>.*)\)\s*$")


def aim_lines(ratios: list[tuple[str, str]]) -> list[str]:
    """`ratio` lines of each aimed-at figure of the sitting: its value beside its aim and
    its target (`ratios`: each benchmark's name and ratio line)."""
    lines = []
    for name, line in ratios:
        ratio = _RATIO.match(line)
        if ratio is None or (name, ratio["what"]) not in AIMS:
            continue
        sign, aim = AIMS[(name, ratio["what"])]
        value = float(ratio["value"].replace(",", ""))
        reached = value >= aim if sign == ">=" else value <= aim
        lines.append(
            f"ratio  {name}, {ratio['what']} [{ratio['target']}]: {ratio['value']}"
            f"  (aim {sign} {aim:g}: {'met' if reached else 'NOT met'})"
        )
    return lines


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--quick or --smoke sizes; --only some of them."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run_all",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="each benchmark's --quick sizes")
    sizes.add_argument("--smoke", action="store_true", help="the tiniest sizes (a smoke test)")
    parser.add_argument(
        "--only", help=f"comma-separated, among {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="the sitting's results file (default benchmarks/results/<date>-run_all.txt; "
        "none with --smoke)",
    )
    parser.add_argument(
        "--table",
        type=Path,
        help="the table regenerated from the output's directory (default "
        "docs/benchmarks/table.md; none with --smoke)",
    )
    args = parser.parse_args(argv)
    if not args.smoke:
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        suffix = "-quick" if args.quick else ""
        args.output = args.output or results_table.RESULTS / f"{today}-run_all{suffix}.txt"
        args.table = args.table or results_table.PAGE
    args.only = args.only.split(",") if args.only else BENCHMARKS
    unknown = sorted(set(args.only) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    return args


class _Sitting:
    """What the sitting prints, also written to its results file as it comes."""

    def __init__(self, output: Path | None) -> None:
        self.file: TextIO | None = None
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            self.file = output.open("w", encoding="utf-8")

    def say(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
        if self.file is not None:
            self.file.write(text)
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def main(argv: list[str] | None = None) -> int:
    """Each benchmark in turn; a summary of the ratio lines and the aims; the table."""
    args = parse_arguments(argv)
    ratios: list[tuple[str, str]] = []
    failed: list[str] = []
    sitting = _Sitting(args.output)
    try:
        for name in args.only:
            extra = SMOKE[name] if args.smoke else ["--quick"] if args.quick else []
            command = [sys.executable, "-m", f"benchmarks.{name}", *extra]
            sitting.say(f"\n$ {' '.join(['python', *command[1:]])}\n")
            started = time.monotonic()
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert process.stdout is not None
            for line in process.stdout:
                sitting.say(line)
                if line.startswith("ratio"):
                    ratios.append((name, line.strip()))
            code = process.wait()
            sitting.say(f"   ({name}: exit {code} after {time.monotonic() - started:.0f} s)\n")
            if code != 0:
                failed.append(name)
        sitting.say(f"\n== summary (load average now {load_average()})\n")
        for name, line in ratios:
            sitting.say(f"   {name}: {line}\n")
        if failed:
            sitting.say(f"   FAILED: {', '.join(failed)}\n")
        aims = aim_lines(ratios)
        if aims:
            # A run block of its own, so that the docs' table shows the aims as a benchmark.
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            sitting.say(f"\n== benchmark: run_all: aims\n   {now}; the sitting's figures\n")
            for line in aims:
                sitting.say(line + "\n")
    finally:
        sitting.close()
    if args.table is not None and args.output is not None:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(results_table.build(args.output.parent), encoding="utf-8")
        print(f"wrote {args.output} and {args.table}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    finish(main)
