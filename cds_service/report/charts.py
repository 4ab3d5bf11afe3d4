"""The report's charts as inline SVG, drawn with matplotlib's SVG backend (no script, no network).

Charts show only categories with 5 events or more (the small-cell rule); the caption says so.
Text stays text in the SVG (``svg.fonttype: none``) so the charts are searchable and labelled.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SVG_STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "cds-concordance-report",
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
ACCENT = "#1f5f8b"
SECOND = "#c26b1a"


class ChartsUnavailable(RuntimeError):
    """matplotlib is not installed (it comes with the optional extra ``report``)."""


def require_matplotlib() -> None:
    """Raise ChartsUnavailable, with the install command, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ChartsUnavailable("the HTML report's charts need matplotlib: pip install '.[report]'") from exc


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(figure: Figure, title: str) -> str:
    """The figure as an <svg> element labelled with its title (role img, <title>), without XML prolog."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context(SVG_STYLE):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, count=1, flags=re.DOTALL)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1).replace(
        ">", f"><title>{escape(title)}</title>", 1
    )


def line_chart(
    title: str,
    months: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    y_label: str,
) -> str:
    """Percentages by month, one line per series; a month whose figure is withheld is a gap.

    Each point carries its value; where series meet in a month, the higher value's label sits above its
    point and the others' below theirs, so labels never stack on each other; the legend sits under the axes.
    """
    require_matplotlib()
    from matplotlib import rc_context

    with rc_context(SVG_STYLE):
        figure = _figure(8.5, 3.8)
        axes = figure.subplots()
        positions = list(range(len(months)))
        for (label, values), colour in zip(series, (ACCENT, SECOND, "#4d8b31", "#7a4ca0"), strict=False):
            ys = [float("nan") if v is None else v for v in values]
            axes.plot(positions, ys, marker="o", color=colour, label=label)
        for x, placements in enumerate(_label_placements([values for _, values in series], len(months))):
            for y, above in placements:
                axes.annotate(
                    f"{y:g}%",
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 5 if above else -5),
                    ha="center",
                    va="bottom" if above else "top",
                    fontsize=8,
                )
        axes.set_xticks(positions, list(months), rotation=45 if len(months) > 12 else 0)
        axes.set_ylim(-12, 114)  # room for a label below 0% and above 100%
        axes.set_yticks(range(0, 101, 20))
        axes.set_xlim(-0.5, max(len(months) - 0.5, 0.5))
        axes.set_ylabel(y_label)
        axes.set_xlabel("Month (UTC) the card was issued")
        axes.set_title(title, loc="left", fontsize=11)
        figure.legend(loc="outside lower center", ncols=max(len(series), 1), frameon=False, fontsize=8)
        axes.grid(axis="y", alpha=0.3)
        return _svg(figure, title)


def _label_placements(series: Sequence[Sequence[float | None]], months: int) -> list[list[tuple[float, bool]]]:
    """Per month, each shown value with True when its label goes above the point (the highest value) or
    False when it goes below (every other value): with two series, as the report draws, labels never share a
    side of the points."""
    placements: list[list[tuple[float, bool]]] = []
    for month in range(months):
        values = sorted((v for values in series if (v := values[month]) is not None), reverse=True)
        placements.append([(value, rank == 0) for rank, value in enumerate(values)])
    return placements


def bar_chart(title: str, bars: Sequence[tuple[str, int]], *, x_label: str) -> str:
    """Horizontal bars, largest first, each with its count."""
    require_matplotlib()
    from matplotlib import rc_context

    ordered = sorted(bars, key=lambda bar: (-bar[1], bar[0]))
    with rc_context(SVG_STYLE):
        figure = _figure(8.5, 0.9 + 0.3 * max(len(ordered), 1))
        axes = figure.subplots()
        labels = [label for label, _ in ordered][::-1]
        values = [value for _, value in ordered][::-1]
        drawn = axes.barh(labels, values, color=ACCENT)
        axes.bar_label(drawn, padding=3, fontsize=8)
        axes.set_xlabel(x_label)
        axes.set_title(title, loc="left", fontsize=11)
        axes.margins(x=0.12)
        return _svg(figure, title)
