"""What saying the audit timeline in the reader's language costs (issue 24, "Tests and
figures": at most 10% on the timeline of a 2,000-milestone convention).

The recorded histories under tests/histories/current (every kind of line: milestones,
answers, notifications, deliveries, runs) are read into timelines once, untimed; then, for
each round, the history is read again into a timeline (`build_timeline`, what `audit.py
timeline` does after fetching it) and written as text either **as stored** (each line's
English summary, what the timeline printed before) or **rendered** in Arabic with the
parties' names (`render_text(…, "ar", names)`). The rounds alternate, the renderings' caches
are cleared before each rendered round (a convention is read once, not its lines a thousand
times), and enough rounds are run to make `--lines` lines (2,000 by default). Target: the
rendered timeline at most 1.10 times the one as stored, reading included (Temporal's fetch,
the same on both sides, left out: it only makes the ratio smaller).

    .venv/bin/python -m benchmarks.record_outputs [--lines 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

from auditing.histories import ConventionHistory, FileHistories
from auditing.timeline import build_timeline, party_names, render_text
from benchmarks.report import (
    add_common_arguments,
    finish,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from rendering import catalogues, formats, record, zones
from rendering import timeline as rendering_timeline
from schemas.audit import Timeline

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories" / "current"
TARGET = 1.10


def as_stored(timeline: Timeline) -> str:
    """The timeline as it was printed before: each line's stored English summary."""
    lines = [f"# {timeline.convention_id} ({timeline.workflow_id})", f"# source: {timeline.source}"]
    for entry in timeline.entries:
        lines.append(
            f"{entry.at:%Y-%m-%d %H:%M:%S}  {(entry.stage or '-'):<16} {entry.event.value:<22} "
            f"{(entry.task_id or '-'):<34} {(entry.party or '-'):<24} {entry.summary}".rstrip()
        )
    return "\n".join(lines) + "\n"


def rendered(timeline: Timeline) -> str:
    """The timeline said in Arabic, parties by name."""
    return render_text(timeline, "ar", party_names(timeline, "ar"))


def clear_caches() -> None:
    """Each rendered round says its lines afresh, as a new `audit.py` process would."""
    record._said_title.cache_clear()
    record._lookup_of.cache_clear()
    record.stage_name.cache_clear()
    formats._escaped.cache_clear()
    formats._decimal.cache_clear()
    formats._long_date.cache_clear()
    formats._data.cache_clear()
    formats._money.cache_clear()
    formats._said_alone.cache_clear()
    formats._said_counted.cache_clear()
    formats._counted_form.cache_clear()
    formats.part_in.cache_clear()
    formats.babel_locale.cache_clear()
    catalogues.gettext.cache_clear()
    rendering_timeline._who.cache_clear()
    # A moment a line names is said in the reader's zone (rendering.zones) since r7.
    zones._long_date.cache_clear()


async def chains() -> list[ConventionHistory]:
    groups = sorted(path for path in HISTORIES.iterdir() if path.is_dir())
    return list((await FileHistories.load(groups)).chains)


async def one_round(histories: list[ConventionHistory], rendering: bool) -> tuple[float, int]:
    started = time.perf_counter()
    lines = 0
    for chain in histories:
        timeline = await build_timeline(chain)
        text = rendered(timeline) if rendering else as_stored(timeline)
        lines += len(timeline.entries)
        assert text
    return time.perf_counter() - started, lines


async def run(lines_wanted: int) -> int:
    histories = await chains()
    _, per_round = await one_round(histories, rendering=True)  # warm-up, untimed
    rounds = max(2, -(-lines_wanted // per_round))
    print_header(
        "record_outputs",
        {"histories": len(histories), "lines per round": per_round, "rounds": rounds},
    )
    stored: list[float] = []
    said: list[float] = []
    for index in range(rounds):
        for rendering in (index % 2 == 0, index % 2 != 0):
            if rendering:
                clear_caches()
            gc.collect()  # no side pays for the garbage the one before it left
            seconds, _ = await one_round(histories, rendering)
            (said if rendering else stored).append(seconds)
    total_lines = per_round * rounds
    print_table(
        ["timeline", "lines", "seconds", "µs per line"],
        [
            [
                "as stored (English summary)",
                total_lines,
                sum(stored),
                1e6 * sum(stored) / total_lines,
            ],
            ["rendered (Arabic, names)", total_lines, sum(said), 1e6 * sum(said) / total_lines],
        ],
    )
    print_load("after")
    print_ratio(
        "rendered / as stored, history read included",
        sum(said) / sum(stored),
        target=TARGET,
        at_least=False,
    )
    return 0  # a target not met is a figure, not a failure (benchmarks.run_all)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--lines (2,000), or --quick (200)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000, help="timeline lines in all")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.lines = 200
    return args


def main() -> int:
    return asyncio.run(run(parse_arguments().lines))


if __name__ == "__main__":
    finish(main)
