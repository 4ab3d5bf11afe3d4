"""The timeline app's one screen, drawn on the server from the chart reading: hand-built SVG and HTML.

Every mark links to the row of its data table (the chart's text alternative), and each row names the FHIR
resource it came from. Colours are the Okabe-Ito palette (safe for colour-blind readers), and every
distinction also has a shape, a dash or a word. No script, no inline style: it renders under the app's
Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from html import escape
from typing import Any

JsonDict = dict[str, Any]

BLUE, ORANGE, VERMILLION, GREEN, SKY, PURPLE, GREY = (
    "#0072B2",
    "#E69F00",
    "#D55E00",
    "#009E73",
    "#56B4E9",
    "#CC79A7",
    "#6E6E6E",
)
WIDTH, LEFT, RIGHT = 960, 170, 30
LAB_COLOURS = {"bilirubin": VERMILLION, "albumin": BLUE, "INR": GREEN}
LAB_UNITS = {"bilirubin": "mg/dL", "albumin": "g/dL", "INR": "ratio"}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def anchor(reference: str) -> str:
    """The id of a resource's row in a data table: "src-Observation-afp-1"."""
    return "src-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in reference)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


class TimeAxis:
    """Dates to x positions, shared by every chart of the screen."""

    def __init__(self, days: Iterable[date | None], today: date) -> None:
        known = [d for d in days if d is not None] + [today]
        self.start = min(known) - timedelta(days=15)
        self.end = max(known) + timedelta(days=15)
        self.span = max((self.end - self.start).days, 1)

    def x(self, day: date) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * (day - self.start).days / self.span, 1)

    def ticks(self, top: float, bottom: float) -> str:
        """Year and half-year gridlines with labels under ``bottom``."""
        marks = []
        for year in range(self.start.year, self.end.year + 1):
            for month in (1, 7):
                day = date(year, month, 1)
                if self.start <= day <= self.end:
                    x = self.x(day)
                    label = str(year) if month == 1 else f"Jul {year}"
                    marks.append(
                        f'<line class="grid" x1="{x}" x2="{x}" y1="{top}" y2="{bottom}"/>'
                        f'<text class="tick" x="{x}" y="{bottom + 16}" text-anchor="middle">{label}</text>'
                    )
        return "".join(marks)


def _svg(chart_id: str, height: float, title: str, description: str, body: str) -> str:
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{_e(title)}</title><desc id="{chart_id}-desc">{_e(description)}</desc>'
        f"{body}</svg>"
    )


def _line_text(line: JsonDict) -> str:
    end = line["end"] or ("now" if line["current"] else "end not recorded")
    how = line["howEnded"] or line["state"]
    if line.get("stateBasis"):
        how += f" ({line['stateBasis']})"
    if line.get("stopText"):
        how += f" ({line['stopText']})"
    return f"Line {line['number']}: {line['label']}, {line['start'] or 'start not recorded'} to {end}, {how}"


def therapy_chart(reading: JsonDict, axis: TimeAxis, today: date) -> str:
    lines = reading["lines"]
    row, top = 46, 20
    height = top + row * max(len(lines), 1) + 30
    body = [axis.ticks(top - 10, height - 30)]
    for index, line in enumerate(lines):
        y = top + index * row
        start = _day(line["start"]) or axis.start
        current = line["current"]
        end = today if current else (_day(line["lastDate"]) or start)
        x1, x2 = axis.x(start), axis.x(end)
        width = max(x2 - x1, 4)
        classes = "bar" + (" uncovered" if not line["covered"] else "") + (" current" if current else "")
        fill = ORANGE if index % 2 else BLUE
        tip = _line_text(line) + f"; {line['coverage']}; sources: " + ", ".join(s["reference"] for s in line["sources"])
        faded = "" if line["covered"] else 'fill-opacity="0.35" stroke-dasharray="6 3" '
        mark = (
            f'<rect class="{classes}" x="{x1}" y="{y}" width="{width}" height="26" rx="3" fill="{fill}" '
            f'{faded}stroke="{fill}" stroke-width="2"/>'
        )
        if current:  # current, or no end recorded: an open arrow at today
            mark += f'<path d="M{x2} {y} l12 13 l-12 13 z" fill="{fill}"/>'
        ended = line["howEnded"] or line["state"]
        label = f"Line {line['number']}: {line['label']}"
        body.append(
            f'<a href="#{anchor(line["sources"][0]["reference"]) if line["sources"] else "lines"}" '
            f'class="line-mark" data-line="{line["number"]}" aria-label="{_e(tip)}">'
            f"<title>{_e(tip)}</title>{mark}</a>"
            f'<text class="row-label" x="{LEFT - 8}" y="{y + 17}" text-anchor="end">{_e(label)}</text>'
            f'<text class="bar-label" x="{x1 + 6}" y="{y + 40}">{_e(ended)}'
            f"{'' if line['covered'] else ' — ' + _e(line['coverage'])}</text>"
        )
    x_today = axis.x(today)
    body.append(
        f'<line class="today" x1="{x_today}" x2="{x_today}" y1="{top - 10}" y2="{height - 30}"/>'
        f'<text class="tick" x="{x_today}" y="{top - 12}" text-anchor="middle">today</text>'
    )
    if not lines:
        body.append(f'<text class="empty" x="{LEFT}" y="{top + 18}">No systemic therapy on record</text>')
    description = "; ".join(_line_text(line) + f" ({line['coverage']})" for line in lines) or "No lines on record"
    return _svg("therapy-chart", height, "Systemic therapy lines over time", description, "".join(body))


def afp_chart(reading: JsonDict, axis: TimeAxis) -> str:
    afp = reading["afp"]
    results = afp["results"]
    cutoff = afp["cutoffNgPerMl"]
    comparable = [r for r in results if r["valueNgPerMl"] is not None and r["date"]]
    top, plot, strip = 20, 220, 40
    height = top + plot + strip + 30
    maximum = float(max([cutoff * 1.25, *(r["valueNgPerMl"] * 1.1 for r in comparable)]))

    def y(value: float) -> float:
        return round(top + plot - plot * value / maximum, 1)

    body = [axis.ticks(top, top + plot + strip)]
    step = _nice_step(maximum)
    value = 0.0
    while value <= maximum:
        body.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value)}" y2="{y(value)}"/>'
            f'<text class="tick" x="{LEFT - 8}" y="{y(value) + 4}" text-anchor="end">{value:g}</text>'
        )
        value += step
    body.append(
        f'<text class="axis-label" x="{LEFT - 60}" y="{top + plot / 2}" text-anchor="middle" '
        f'transform="rotate(-90 {LEFT - 60} {top + plot / 2})">AFP, ng/mL</text>'
    )
    body.append(
        f'<line id="afp-cutoff" class="cutoff" data-cutoff="{cutoff:g}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{y(cutoff)}" y2="{y(cutoff)}" stroke="{VERMILLION}" stroke-dasharray="8 4"/>'
        f'<text class="cutoff-label" x="{WIDTH - RIGHT}" y="{y(cutoff) - 6}" text-anchor="end" fill="{VERMILLION}">'
        f"cut-off {_e(afp['cutoffText'])}</text>"
    )
    if len(comparable) > 1:
        points = " ".join(f"{axis.x(_day(r['date']) or axis.start)},{y(r['valueNgPerMl'])}" for r in comparable)
        body.append(f'<polyline class="trend" points="{points}" fill="none" stroke="{BLUE}"/>')
    strip_y = top + plot + strip / 2
    body.append(
        f'<text class="tick" x="{LEFT - 8}" y="{strip_y + 4}" text-anchor="end">not comparable</text>'
        f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{top + plot + 8}" y2="{top + plot + 8}"/>'
    )
    for result in results:
        day = _day(result["date"])
        if day is None:
            continue
        x = axis.x(day)
        tip = f"AFP {result['text']} on {result['date']} ({result['reference']})"
        if result["note"]:
            tip += f"; {result['note']}"
        classes = "afp-point" + (" used" if result["used"] else "")
        if result["valueNgPerMl"] is None:
            classes += " not-comparable"
            shape = (
                f'<path class="{classes}" d="M{x} {strip_y - 7} l7 7 l-7 7 l-7 -7 z" fill="white" '
                f'stroke="{PURPLE}" stroke-width="2"/>'
            )
        else:
            cy = y(result["valueNgPerMl"])
            shape = f'<circle class="{classes}" cx="{x}" cy="{cy}" r="5" fill="{BLUE}"/>'
            if result["used"]:
                shape += (
                    f'<circle class="used-ring" cx="{x}" cy="{cy}" r="11" fill="none" stroke="{ORANGE}" '
                    f'stroke-width="3"/><text class="used-label" x="{x - 14}" y="{cy - 16}" text-anchor="end">'
                    f"used by the rules: {_e(result['text'])}</text>"
                )
        body.append(
            f'<a href="#{anchor(result["reference"])}" class="point-link" data-reference="{_e(result["reference"])}" '
            f'aria-label="{_e(tip)}"><title>{_e(tip)}</title>{shape}</a>'
        )
    used = next((r for r in results if r["used"]), None)
    above = sum(1 for r in comparable if r["relation"] == "at_or_above")
    description = (
        f"{len(results)} AFP results; {len(comparable)} comparable in ng/mL, {above} at or above the cut-off of "
        f"{afp['cutoffText']}; {len(results) - len(comparable)} not comparable. "
        + (f"The rules used {used['text']} of {used['date']}." if used else "No AFP result the rules could use.")
    )
    return _svg("afp-chart", height, "AFP over time with the cut-off", description, "".join(body))


def _nice_step(maximum: float) -> float:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000):
        if maximum / step <= 6:
            return float(step)
    return maximum / 5


def liver_chart(reading: JsonDict, axis: TimeAxis) -> str:
    results = reading["liver"]["results"]
    panel, gap, top = 70, 18, 16
    names = list(LAB_COLOURS)
    bottom = top + len(names) * (panel + gap)
    class_y = bottom + 44
    height = class_y + 14
    body = [axis.ticks(top, bottom)]
    for index, name in enumerate(names):
        y0 = top + index * (panel + gap)
        values = [(r["date"], r[name]) for r in results if r.get(name)]
        colour = LAB_COLOURS[name]
        body.append(
            f'<text class="row-label" x="{LEFT - 8}" y="{y0 + panel / 2}" text-anchor="end">{name} '
            f"({LAB_UNITS[name]})</text>"
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y0 + panel}" y2="{y0 + panel}"/>'
        )
        if not values:
            body.append(f'<text class="empty" x="{LEFT + 8}" y="{y0 + panel / 2}">not on record</text>')
            continue
        numbers = [lab["value"] for _, lab in values]
        low, high = min(numbers), max(numbers)
        pad = (high - low) * 0.2 or max(high * 0.1, 0.1)

        def y(value: float, y0: float = y0, low: float = low - pad, high: float = high + pad) -> float:
            return round(y0 + panel - panel * (value - low) / (high - low), 1)

        points = " ".join(f"{axis.x(date.fromisoformat(day))},{y(lab['value'])}" for day, lab in values)
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for day, lab in values:
            x, cy = axis.x(date.fromisoformat(day)), y(lab["value"])
            tip = f"{name} {lab['asReported']} on {day} ({lab['reference']})"
            body.append(
                f'<a href="#{anchor(lab["reference"])}" class="point-link" aria-label="{_e(tip)}"><title>{_e(tip)}'
                f'</title><rect class="lab-point" x="{x - 4}" y="{cy - 4}" width="8" height="8" fill="{colour}"/></a>'
                f'<text class="value-label" x="{x + 7}" y="{cy - 6}">{_e(lab["text"])}</text>'
            )
    body.append(f'<text class="row-label" x="{LEFT - 8}" y="{class_y}" text-anchor="end">Child-Pugh</text>')
    for result in results:
        cp = result["childPugh"]
        x = axis.x(date.fromisoformat(result["date"]))
        tip = f"Child-Pugh {cp['class']} ({cp['score']}) on {result['date']}"
        tip += f"; {cp['missing']}" if cp["missing"] else ""
        body.append(
            f'<text class="child-pugh" x="{x}" y="{class_y}" text-anchor="middle"><title>{_e(tip)}</title>'
            f"{_e(cp['class'])}</text>"
        )
    description = "; ".join(
        f"{r['date']}: "
        + ", ".join(f"{n} {r[n]['asReported']}" for n in names if r.get(n))
        + f", Child-Pugh {r['childPugh']['class']}"
        for r in results
    )
    return _svg(
        "liver-chart", height, "Liver function over time", description or "No liver labs on record", "".join(body)
    )


def _table(caption: str, head: list[str], rows: Sequence[tuple[str | None, list[str]]], table_id: str) -> str:
    heads = "".join(f'<th scope="col">{_e(h)}</th>' for h in head)
    body = []
    for row_id, cells in rows:
        attrs = f' id="{_e(row_id)}" tabindex="-1"' if row_id else ""
        body.append(f"<tr{attrs}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f'<details class="data"><summary>{_e(caption)} (data table)</summary><table id="{table_id}">'
        f"<caption>{_e(caption)}</caption><thead><tr>{heads}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        "</details>"
    )


def _lines_table(lines: list[JsonDict]) -> str:
    rows: list[tuple[str | None, list[str]]] = []
    for line in lines:
        for position, source in enumerate(line["sources"]):
            rows.append(
                (
                    anchor(source["reference"]),
                    [
                        _e(f"Line {line['number']}") if position == 0 else "",
                        _e(line["agents"]),
                        _e(line["start"] or "not recorded"),
                        _e(line["end"] or "no end recorded"),
                        _e(
                            (line["howEnded"] or line["state"]) + (f" ({line['stopText']})" if line["stopText"] else "")
                        ),
                        _e(line["coverage"]),
                        f"<code>{_e(source['reference'])}</code> {_e(source.get('description', ''))}",
                    ],
                )
            )
    head = ["Line", "Agents", "Start", "End", "How it ended", "Review", "Source"]
    return _table("Lines of systemic therapy", head, rows, "lines")


def _afp_table(afp: JsonDict) -> str:
    rows = [
        (
            anchor(r["reference"]),
            [
                _e(r["date"] or "undated"),
                _e(r["text"]),
                _e(r["unit"] or "no unit"),
                _e("yes" if r["comparable"] else "not comparable") + (" (converted)" if r["converted"] else ""),
                _e(r["relation"].replace("_", " ")),
                "<strong>used by the rules</strong>" if r["used"] else "",
                f"<code>{_e(r['reference'])}</code>" + (f" {_e(r['note'])}" if r["note"] else ""),
            ],
        )
        for r in afp["results"]
    ]
    head = ["Date", "Value", "Unit", "Comparable with ng/mL", f"vs {afp['cutoffText']}", "Rules", "Source"]
    return _table("AFP results", head, rows, "afp-table")


def _liver_table(liver: JsonDict) -> str:
    rows: list[tuple[str | None, list[str]]] = []
    for result in liver["results"]:
        cells = [_e(result["date"])]
        for name in LAB_COLOURS:
            lab = result.get(name)
            source = f'<code id="{anchor(lab["reference"])}" tabindex="-1">{_e(lab["reference"])}</code>' if lab else ""
            cells.append(f"{_e(lab['asReported'])} {source}" if lab else "—")
        cp = result["childPugh"]
        cells.append(_e(f"{cp['class']} ({cp['score']})"))
        cells.append(_e(cp["missing"] or "none"))
        rows.append((None, cells))
    head = ["Date", "Bilirubin", "Albumin", "INR", "Child-Pugh", "Missing components"]
    return _table("Liver function", head, rows, "liver-table")


def _advice_html(advice: JsonDict) -> str:
    if not advice["applicable"]:
        return f'<p class="summary">{_e(advice["summary"])}</p>'
    parts = [
        f'<p class="summary" id="advice-summary">{_e(advice["summary"])}</p>',
        f"<p><strong>Setting:</strong> {_e(advice['settingTitle'])}</p>",
        '<table id="options"><caption>Options for this patient</caption><thead><tr>'
        + "".join(f'<th scope="col">{h}</th>' for h in ("Regimen", "Place", "Evidence", "Trials", "For this patient"))
        + "</tr></thead><tbody>",
    ]
    for option in advice["options"]:
        trials = ", ".join(
            f'<a href="{_e(t["url"])}" target="_blank" rel="noopener noreferrer">{_e(t["trial"])}</a>'
            for t in option["trials"]
        )
        parts.append(
            f'<tr data-regimen="{_e(option["regimen"])}"><th scope="row">{_e(option["label"])}</th>'
            f"<td>{_e(option['place'])}</td><td>{_e(option['evidence'])}</td><td>{trials or '—'}</td>"
            f"<td>{_e(option['forThisPatient'])}</td></tr>"
        )
    parts.append("</tbody></table>")
    if advice["gates"]:
        parts.append('<h3>Safety gates that fired</h3><ul id="gates">')
        parts += [
            f'<li data-gate="{_e(g["id"])}"><strong>{_e(g["title"])}</strong>: {_e(g["message"])}</li>'
            for g in advice["gates"]
        ]
        parts.append("</ul>")
    if advice["dataGaps"]:
        parts.append("<h3>Data that would change this answer</h3><ul>")
        parts += [f"<li>{_e(gap)}</li>" for gap in advice["dataGaps"]]
        parts.append("</ul>")
    return "".join(parts)


def _cautions_html(cautions: list[JsonDict]) -> str:
    if not cautions:
        return "<p>None on record.</p>"
    items = "".join(
        f"<li><strong>{_e(c['label'])}</strong>: {_e(c['text'])} (<code>{_e(c['reference'])}</code>, "
        f"{_e(c['date'] or 'undated')})</li>"
        for c in cautions
    )
    return f'<ul id="cautions-list">{items}</ul>'


def timeline_html(reading: JsonDict) -> str:
    """The one screen: therapy lines, AFP trend, liver function, cautions, the advice (an HTML fragment)."""
    today = date.fromisoformat(reading["asOf"])
    days = [_day(line["start"]) for line in reading["lines"]] + [_day(r["date"]) for r in reading["afp"]["results"]]
    days += [_day(r["date"]) for r in reading["liver"]["results"]]
    axis = TimeAxis(days, today)
    current = reading["liver"]["current"]
    cp_text = f"Child-Pugh {current['class']} ({current['score']})" if current else ""
    if current and current["missing"]:
        cp_text += f": {current['missing']}"
    return "".join(
        [
            f'<p class="summary" id="headline">{_e(reading["advice"]["summary"])}</p>',
            '<section id="timeline" aria-labelledby="timeline-h"><h2 id="timeline-h">Lines of systemic therapy</h2>',
            '<p class="legend"><span class="key covered">review regimen</span> '
            '<span class="key uncovered">not covered by the review (faded, dashed outline)</span> '
            '<span class="key current">arrow: current or no end recorded</span></p>',
            therapy_chart(reading, axis, today),
            _lines_table(reading["lines"]),
            "</section>",
            '<section id="afp" aria-labelledby="afp-h"><h2 id="afp-h">AFP trend</h2>',
            f"<p>Values in ng/mL; cut-off {_e(reading['afp']['cutoffText'])}. Results in IU/mL are not comparable "
            "unless the site sets a conversion factor (drawn as hollow diamonds below the axis). The ringed value is "
            "the one the rules used.</p>",
            afp_chart(reading, axis),
            _afp_table(reading["afp"]),
            "</section>",
            '<section id="liver" aria-labelledby="liver-h"><h2 id="liver-h">Liver function</h2>',
            f'<p id="child-pugh-now">Now: {_e(cp_text)}</p>' if cp_text else "",
            liver_chart(reading, axis),
            _liver_table(reading["liver"]),
            "</section>",
            '<section id="cautions" aria-labelledby="cautions-h"><h2 id="cautions-h">Cautions</h2>',
            _cautions_html(reading["cautions"]),
            "</section>",
            f'<section id="advice" aria-labelledby="advice-h"><h2 id="advice-h">The advice</h2>'
            f"{_advice_html(reading['advice'])}</section>",
        ]
    )
