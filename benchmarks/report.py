"""What every benchmark prints: the header, tables, percentiles, the ratio line, and `finish`,
which leaves with `os._exit` once the output is flushed (a Temporal client can abort at
interpreter exit: sdk-python issue 300)."""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import temporalio

from infra.log_config import configure_logging


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def print_header(name: str, settings: dict[str, Any]) -> None:
    """What ran, where, when, with which sizes."""
    configure_logging(logging.WARNING)  # the driver's own: only what goes wrong
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"== benchmark: {name}", flush=True)
    print(
        f"   {now}; {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, temporalio {temporalio.__version__}; "
        f"load average {load_average()}"
    )
    print("   " + ", ".join(f"{key}={value}" for key, value in settings.items()), flush=True)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A compact left-aligned table."""
    cells = [[str(h) for h in headers], *[[_cell(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("   " + "  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip())
        if index == 0:
            print("   " + "  ".join("-" * width for width in widths))
    sys.stdout.flush()


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_ratio(label: str, ratio: float, *, target: float | None, at_least: bool) -> bool:
    """The line every benchmark prints: `ratio <what>: <value> (target …: met | NOT met)`."""
    if target is None:
        print(f"ratio  {label}: {ratio:.2f}  (no target)", flush=True)
        return True
    met = ratio >= target if at_least else ratio <= target
    sign = ">=" if at_least else "<="
    verdict = "met" if met else "NOT met"
    print(f"ratio  {label}: {ratio:.2f}  (target {sign} {target:g}: {verdict})", flush=True)
    return met


def print_load(when: str) -> None:
    """The load now: other engineers' test suites share these cores."""
    print(f"   load average {when}: {load_average()}", flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (fraction in 0..1) of the values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def finish(main: Callable[[], int]) -> NoReturn:
    """Run a benchmark's main, flush, and leave with os._exit (sdk-python issue 300)."""
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    except Exception:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--quick: the small sizes; --keep: leave the temporary directory for a look."""
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick run")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs) afterwards"
    )


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean (nan when empty)."""
    return sum(values) / len(values) if values else float("nan")
