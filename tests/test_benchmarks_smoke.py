"""The benchmark scripts still work (figures are never asserted: see README, Benchmarks).

Importing every benchmark checks that the product functions they call still exist under
their names. Every run of the suite then sits one sitting at smoke sizes
(`python -m benchmarks.run_all --smoke`) of two benchmarks: the persistence one (no
Temporal, a few seconds) and the one whose turn it is (the day's ordinal among
BENCHMARKS: each is run every eleven days of suites, in well under a minute), through the
whole sitting: its results file, the summary and the docs' table regenerated from it.
Running all of them at their tiniest sizes takes about 4 minutes on two busy cores, more
than a suite should spend: set PACTE_BENCHMARK_SMOKE=1 to include it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from benchmarks.run_all import BENCHMARKS, SMOKE, aim_lines
from infra.settings import PROJECT_ROOT

# What the benchmarks share (the Bamako shape, figures, histories, metering, their worker).
NOT_BENCHMARKS = {"__init__", "run_all", "bare_workflows", "bamako", "histories", "metering"}
NOT_BENCHMARKS |= {"report", "worker", "http_floor", "results_table"}  # the docs table, not a run


def test_every_benchmark_module_is_run_by_run_all_with_smoke_sizes() -> None:
    modules = {
        path.stem
        for path in (PROJECT_ROOT / "benchmarks").glob("*.py")
        if path.stem not in NOT_BENCHMARKS
    }
    assert modules == set(BENCHMARKS) == set(SMOKE)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_imports_and_parses_its_sizes(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    quick = module.parse_arguments(["--quick"])
    full = module.parse_arguments([])
    assert vars(quick) != vars(full)


@pytest.mark.skipif(
    os.environ.get("PACTE_BENCHMARK_SMOKE") != "1",
    reason="about 4 min: set PACTE_BENCHMARK_SMOKE=1 to run every benchmark at its tiniest sizes",
)
def test_every_benchmark_runs_and_prints_its_ratio() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_all", "--smoke"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = done.stdout.split("== summary", 1)[1]
    for name in BENCHMARKS:
        assert f"{name}: ratio" in summary, summary


def benchmark_of_the_day(today: date | None = None) -> str:
    """The benchmark whose turn it is to be smoked beside the persistence one."""
    return BENCHMARKS[(today or date.today()).toordinal() % len(BENCHMARKS)]


def test_a_sitting_at_smoke_sizes_writes_its_results_file_and_the_table(tmp_path: Path) -> None:
    turn = benchmark_of_the_day()
    only = ["persistence"] + ([turn] if turn != "persistence" else [])
    output = tmp_path / "results" / "2026-12-07-run_all-smoke.txt"
    table = tmp_path / "table.md"
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "benchmarks.run_all", "--smoke", "--only", ",".join(only)),
            *("--output", str(output), "--table", str(table)),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    rerun = f"python -m benchmarks.run_all --smoke --only {turn}"
    assert done.returncode == 0, f"{rerun}\n" + done.stdout[-3000:] + done.stderr[-3000:]
    kept = output.read_text(encoding="utf-8")
    summary = kept.split("== summary", 1)[1]
    for name in only:
        assert f"$ python -m benchmarks.{name}" in kept
        assert f"{name}: ratio" in summary, (rerun, summary)
    page = table.read_text(encoding="utf-8")
    assert page.startswith("# Benchmark results") and output.name in page


def test_the_aims_are_reported_beside_the_targets() -> None:
    lines = aim_lines(
        [
            (
                "lifecycle",
                "ratio  Pacte / straightforward conventions per second: 1.34  (target >= 1: met)",
            ),
            (
                "lifecycle",
                "ratio  Pacte / no-op bare conventions per second: 0.69  (target >= 0.8: NOT met)",
            ),
            (
                "answer_latency",
                "ratio  Pacte / bare update latency p50: 1.05  (target <= 1.2: met)",
            ),
        ]
    )
    assert lines == [
        "ratio  lifecycle, Pacte / straightforward conventions per second [target >= 1: met]:"
        " 1.34  (aim >= 1.5: NOT met)",
        "ratio  answer_latency, Pacte / bare update latency p50 [target <= 1.2: met]: 1.05"
        "  (aim <= 1.1: met)",
    ]
