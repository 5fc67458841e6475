"""Run every benchmark in sequence, each in its own process with its own servers.

    .venv/bin/python -m benchmarks.run_all [--quick | --smoke] [--only lifecycle,replay]

Each benchmark's output is printed as it comes; at the end, every `ratio` line again, and
the exit code is non-zero if a benchmark itself failed (a target not met is a figure, not a
failure). `--smoke` runs the tiniest sizes: it proves the scripts work, measures nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

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
    "documents",
]
SMOKE = {
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
    "documents": ["--size-mb", "1", "--rounds", "1", "--seals", "1"],
}


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
    args = parser.parse_args(argv)
    args.only = args.only.split(",") if args.only else BENCHMARKS
    unknown = sorted(set(args.only) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Each benchmark in turn; a summary of the ratio lines."""
    args = parse_arguments(argv)
    ratios: list[str] = []
    failed: list[str] = []
    for name in args.only:
        extra = SMOKE[name] if args.smoke else ["--quick"] if args.quick else []
        command = [sys.executable, "-m", f"benchmarks.{name}", *extra]
        print(f"\n$ {' '.join(['python', *command[1:]])}", flush=True)
        started = time.monotonic()
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.startswith("ratio"):
                ratios.append(f"{name}: {line.strip()}")
        code = process.wait()
        print(f"   ({name}: exit {code} after {time.monotonic() - started:.0f} s)", flush=True)
        if code != 0:
            failed.append(name)
    print(f"\n== summary (load average now {load_average()})")
    for line in ratios:
        print(f"   {line}")
    if failed:
        print(f"   FAILED: {', '.join(failed)}")
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    finish(main)
