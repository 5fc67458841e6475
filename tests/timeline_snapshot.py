"""Every rendering of the audit timeline of every recorded history, written to a folder: run
it before and after a change to the renderings' speed and compare the two folders (`diff -r`)
to prove that no line says anything else.

    python -m tests.timeline_snapshot /tmp/before   # on the old code
    python -m tests.timeline_snapshot /tmp/after    # on the new code
    diff -r /tmp/before /tmp/after && echo same

Text, HTML and CSV, in French, Arabic and English, with the parties' names and without
(ids as they are), in UTC and in a reader's zone; each timeline twice in one process, first
with nothing kept (`forget_everything`), then once every other timeline, language and zone
was said, so that a value kept for one and said for another shows as a difference.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

from auditing.histories import FileHistories
from auditing.html_report import render_html
from auditing.timeline import build_timeline, party_names, render_csv, render_text
from benchmarks.record_outputs import clear_caches
from rendering import formats, record
from rendering.record import NO_NAMES
from schemas.audit import Timeline

HISTORIES = Path(__file__).resolve().parent / "histories" / "current"
LANGUAGES = ("fr", "ar", "en")
ZONES = ("UTC", "Asia/Riyadh")
GENERATED_AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def timelines() -> list[tuple[str, Timeline]]:
    """Each recorded history's timeline, by its folder's name."""
    found = []
    for group in sorted(path for path in HISTORIES.iterdir() if path.is_dir()):
        for chain in (await FileHistories.load([group])).chains:
            found.append((f"{group.name}.{chain.convention_id}", await build_timeline(chain)))
    return found


def forget_everything() -> None:
    """Every value the renderings keep per process dropped, the milestones' sentences too:
    what follows is said as a new process says it."""
    clear_caches()
    record.forget_said()
    # Kept since issue 24's speed-up: looked up by name, so that this script also runs on
    # the code before it (copied there) to write the renderings to compare with.
    for name in ("_said_counted", "_counted_form", "part_in", "babel_locale"):
        kept = getattr(formats, name, None)
        if kept is not None and hasattr(kept, "cache_clear"):
            kept.cache_clear()


def renderings(timeline: Timeline) -> dict[str, str]:
    """Every form, language, naming and zone of one timeline, by file name."""
    said: dict[str, str] = {}
    for language in LANGUAGES:
        for naming, names in (
            ("names", party_names(timeline, language)),
            ("ids", NO_NAMES),
        ):
            for zone in ZONES:
                stem = f"{language}.{naming}.{zone.replace('/', '-')}"
                said[f"{stem}.txt"] = render_text(timeline, language, names, zone)
                said[f"{stem}.csv"] = render_csv(timeline, language, names, zone)
                said[f"{stem}.html"] = render_html(
                    timeline, generated_at=GENERATED_AT, language=language, names=names, zone=zone
                )
    return said


async def write(folder: Path) -> int:
    """Writes every rendering twice (caches cold, then warm) and checks the two agree."""
    found = await timelines()
    cold = {}
    for name, timeline in found:
        forget_everything()
        cold[name] = renderings(timeline)
    warm = {name: renderings(timeline) for name, timeline in reversed(found)}
    files = 0
    for name, said in cold.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for file_name, text in said.items():
            if warm[name][file_name] != text:
                print(f"{name}/{file_name}: said otherwise once kept", file=sys.stderr)
                return 1
            # The source line names the histories' folder: the same wherever the checkout is.
            text = text.replace(str(HISTORIES), "tests/histories/current")
            (folder / name / file_name).write_text(text, encoding="utf-8")
            files += 1
    print(f"{files} renderings of {len(found)} timelines written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(write(Path(sys.argv[1]))))
