"""The portfolio's charts: SVG drawn on the server by matplotlib, never by hand.

`svg.fonttype: none` keeps every label as text in the SVG, so the browser shapes it (Arabic
joins and runs right to left) instead of matplotlib drawing unshaped glyph outlines. The
figure is built with matplotlib's object API (no pyplot, no global state), so concurrent
requests cannot draw on each other's figure.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["svg.hashsalt"] = "pacte"  # the same figures give the same file
# Labels are users' text (a sector, a party's name): `$…$` in them is text, never math for
# matplotlib to parse (a `$\frac{$` sector made every portfolio chart answer 500).
matplotlib.rcParams["text.parse_math"] = False
_COLOURS = ("#1f5f8b", "#1b7a3d", "#b26a00", "#b3261e", "#6a3d9a")


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    rtl: bool = False,
) -> str:
    """Horizontal bars, one group per label, one colour per series; an SVG document.

    A value not known (an indicator without a target) draws no bar; the table says "—"."""
    rows = max(len(labels), 1)
    figure = Figure(figsize=(7.5, 1.2 + 0.45 * rows * max(len(series), 1) ** 0.5))
    FigureCanvasSVG(figure)
    axes = figure.add_subplot()
    height = 0.8 / max(len(series), 1)
    positions = list(range(len(labels)))
    for index, (name, values) in enumerate(series.items()):
        axes.barh(
            [p + index * height for p in positions],
            [math.nan if v is None else float(v) for v in values],
            height=height,
            label=name,
            color=_COLOURS[index % len(_COLOURS)],
        )
    axes.set_yticks([p + height * (len(series) - 1) / 2 for p in positions], list(labels))
    axes.invert_yaxis()
    if rtl:
        axes.invert_xaxis()
        axes.yaxis.tick_right()
    axes.set_title(title)
    if len(series) > 1:
        # Below the bars, never over them.
        axes.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12),
            ncol=min(len(series), 4),
            fontsize="small",
            frameon=False,
        )
    known = [v for values in series.values() for v in values if v is not None]
    # Counts (conventions, days late): whole ticks, not 0, 0, 1, 1 from 0.2, 0.4…; and few
    # of them, so that amounts in the tens of millions do not run into each other.
    integer = all(float(v).is_integer() for v in known)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=integer))
    # Plain amounts (40,000,000, not 4.0 with a 1e7 offset): currencies are never mixed.
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:,.0f}"))
    if not labels:
        axes.set_xticks([])
        axes.text(0.5, 0.5, "—", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


class ChartCache:
    """Drawn charts kept by what they show: a table's name, the reader's language and a
    digest of its rows. matplotlib takes 0.3 to 3.5 s for a chart of the portfolio's 50 rows
    (benchmarks/results/2026-12-02-portfolio.txt); the rows are the read model's, computed once
    per version (application/office/portfolio.PortfolioCache), so an unchanged portfolio is
    never drawn twice. Bounded: the least recently read go first. (Browsers are still told
    `no-store`: a chart shows conventions' figures, which the security model keeps out of
    browser caches.)"""

    def __init__(self, entries: int = 64) -> None:
        self._entries = entries
        self._charts: OrderedDict[str, str] = OrderedDict()
        self.drawn = 0

    @staticmethod
    def key(table: str, lang: str, rows: list[dict[str, Any]]) -> str:
        """What the chart shows, as a digest (amounts and dates as their text)."""
        shown = json.dumps([table, lang, rows], sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(shown.encode()).hexdigest()[:32]

    def get(self, key: str, draw: Callable[[], str]) -> str:
        """The chart under `key`, drawn by `draw` only if it is not kept."""
        svg = self._charts.get(key)
        if svg is None:
            svg = draw()
            self.drawn += 1
            self._charts[key] = svg
            while len(self._charts) > self._entries:
                self._charts.popitem(last=False)
        self._charts.move_to_end(key)
        return svg
