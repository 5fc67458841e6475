"""The benchmark scripts still work (figures are never asserted: see README, Benchmarks).

Importing every benchmark checks that the product functions they call still exist under
their names. Running them all at their tiniest sizes takes about 90 s on two busy cores,
more than a suite should spend on it: set PACTE_BENCHMARK_SMOKE=1 to include it (it is
`python -m benchmarks.run_all --smoke`).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

from benchmarks.run_all import BENCHMARKS, SMOKE
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
    reason="about 90 s: set PACTE_BENCHMARK_SMOKE=1 to run every benchmark at its tiniest sizes",
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
