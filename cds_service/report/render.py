"""The concordance report as JSON, CSV (one row per cell) or one self-contained HTML file.

The HTML has no script and loads nothing: styles inline, charts as inline SVG. Every output is rendered
from the same report data (``build_report``), so the three formats always agree.
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from typing import Any

from cds_service.report import charts

DEFINITIONS_DOC = "docs/concordance-report.md"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2733; margin: 0;
       background: #f6f7f9; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem 2rem 3rem; background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #1f5f8b; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .25rem; }
.meta { color: #56606b; margin: 0 0 1rem; }
.summary { background: #eef4f9; border-left: 4px solid #1f5f8b; padding: .75rem 1rem; margin: 1rem 0; }
.summary h2 { margin-top: 0; }
.summary li { margin: .3rem 0; }
.notice { background: #fff6e5; border-left: 4px solid #c26b1a; padding: .5rem 1rem; margin: .5rem 0; }
figure { margin: 1rem 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #56606b; font-size: .85rem; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; margin: .25rem 0 1rem; }
th, td { border-bottom: 1px solid #dde2e7; padding: .25rem .5rem; text-align: left; white-space: nowrap; }
td.label { white-space: normal; }
th { background: #f0f2f5; white-space: normal; vertical-align: bottom; }
th.number, td.count, td.percent { text-align: right; font-variant-numeric: tabular-nums; }
p.description { color: #56606b; margin: 0 0 .25rem; font-size: .9rem; }
footer { color: #56606b; font-size: .8rem; margin-top: 2rem; }
"""


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def to_csv(report: dict[str, Any]) -> str:
    """Long format: one line per cell (table, month, knowledge version, dimension, value, measure, count)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["table", "month", "knowledge_version", "dimension", "value", "measure", "count"])
    for table in report["tables"]:
        measures = table["measures"]
        dimensions = [c for c in table["columns"] if c not in ("month", "knowledge_version", *measures)]
        for row in table["rows"]:
            value = " / ".join(str(row[d]) for d in dimensions)
            for measure in measures:
                cell = row[measure]
                writer.writerow(
                    [
                        table["id"],
                        row["month"],
                        row.get("knowledge_version", ""),
                        "/".join(dimensions),
                        value,
                        measure,
                        "" if cell is None else cell,
                    ]
                )
    return out.getvalue()


def _label(report: dict[str, Any], dimension: str, value: str) -> str:
    return str(report["labels"].get(dimension, {}).get(value, value))


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "&ndash;"  # withheld (small cell) or not applicable
    if kind == "percent":
        return f"{value:.1f}%"
    return escape(str(value))


def _table_html(report: dict[str, Any], table: dict[str, Any]) -> str:
    columns = table["columns"]
    number = {c: " class='number'" if c in table["measures"] else "" for c in columns}
    head = "".join(f"<th scope='col'{number[c]}>{escape(table['headings'][c])}</th>" for c in columns)
    body = []
    for row in table["rows"]:
        cells = []
        for column in columns:
            value = row[column]
            if column in report["labels"] and isinstance(value, str):
                cells.append(f"<td class='label'>{escape(_label(report, column, value))}</td>")
            elif column.endswith("_percent"):
                cells.append(f"<td class='percent'>{_cell(value, 'percent')}</td>")
            elif isinstance(value, int) or value == "<5":
                cells.append(f"<td class='count'>{_cell(value, 'count')}</td>")
            else:
                cells.append(f"<td>{_cell(value, 'text')}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    rows = "".join(body) or f"<tr><td colspan='{len(columns)}'>No events in this period.</td></tr>"
    return (
        f"<section id='{escape(table['id'])}'><h3>{escape(table['title'])}</h3>"
        f"<p class='description'>{escape(table['description'])}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _drawn(items: list[tuple[str, Any]]) -> tuple[list[tuple[str, int]], int]:
    """The bars a chart may draw (5 events or more) and how many categories were left out."""
    bars = [(label, value) for label, value in items if isinstance(value, int) and value > 0]
    return bars, sum(1 for _, value in items if value == "<5")


def _caption(text: str, left_out: int) -> str:
    if left_out:
        text += f" {left_out} categor{'y' if left_out == 1 else 'ies'} with fewer than 5 events not drawn."
    return escape(text)


def _charts_html(report: dict[str, Any]) -> str:
    data = report["charts"]
    figures = []
    by_month = data["acceptance_by_month"]
    if by_month:
        svg = charts.line_chart(
            "Acceptance over time",
            [row["month"] for row in by_month],
            [
                ("Warnings accepted", [row["warnings_acceptance_percent"] for row in by_month]),
                ("Data-needed cards that led to an order", [row["data_needed_order_percent"] for row in by_month]),
            ],
            y_label="Percent",
        )
        figures.append(
            f"<figure id='chart-acceptance'>{svg}<figcaption>"
            + escape("Per month the cards were issued; a gap is a month with too few events to report a rate.")
            + "</figcaption></figure>"
        )
    reasons, left_out = _drawn(
        [(_label(report, "reason", r["reason"]), r["overrides"]) for r in data["overrides_by_reason"]]
    )
    if reasons or left_out:
        svg = charts.bar_chart("Overrides by reason", reasons, x_label="Override reports on warnings")
        caption = _caption("Whole period, all knowledge versions.", left_out)
        figures.append(f"<figure id='chart-overrides'>{svg}<figcaption>{caption}</figcaption></figure>")
    settings, left_out = _drawn(
        [(_label(report, "setting", r["setting"]), r["cards"]) for r in data["cards_by_setting"]]
    )
    if settings or left_out:
        svg = charts.bar_chart("Cards by setting", settings, x_label="Cards issued")
        caption = _caption("Whole period, all hooks and knowledge versions.", left_out)
        figures.append(f"<figure id='chart-settings'>{svg}<figcaption>{caption}</figcaption></figure>")
    return "".join(figures) or "<p>No cards were issued in this period.</p>"


def to_html(report: dict[str, Any]) -> str:
    """One self-contained page: summary, charts (inline SVG), then every table."""
    period = report["period"]
    since, until = period["since"] or "the first record", period["until"] or "the last record"
    versions = ", ".join(report["knowledge_versions"]) or "none"
    summary = "".join(f"<li>{escape(sentence)}</li>" for sentence in report["summary"])
    notices = "".join(f"<p class='notice'>{escape(notice)}</p>" for notice in report["notices"])
    sections: dict[str, list[str]] = {}
    for table in report["tables"]:
        sections.setdefault(table["section"], []).append(_table_html(report, table))
    titles = {
        "cards": "Cards issued",
        "warnings": "Warnings: accepted or overridden",
        "data_needed": "Data needed",
        "gates": "Safety gates",
        "unmatched": "Data quality",
        "pilot": "Pilot: pharmacist review and knowledge releases",
    }
    tables = "".join(f"<h2>{escape(titles.get(s, s))}</h2>{''.join(parts)}" for s, parts in sections.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Concordance report: HCC second-line sequencing advice</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>Concordance report: what clinicians did with the advice</h1>
<p class="meta">Cards issued from {escape(since)} to {escape(until)} (UTC) · knowledge versions {escape(versions)} ·
generated {escape(report["generated_at"])}</p>
<section class="summary" aria-label="Summary"><h2>Summary</h2><ul>{summary}</ul></section>
{notices}
<h2>Charts</h2>
{_charts_html(report)}
{tables}
<footer>Counts of 1 to 4 are shown as "&lt;5" and percentages that would reveal them as "&ndash;". No patient
identifiers are stored or shown. Definitions: {DEFINITIONS_DOC} in the service's repository; the same
definitions as the Prometheus counters of <code>/metrics</code>.</footer>
</main>
</body>
</html>
"""


def render(report: dict[str, Any], output_format: str) -> str:
    if output_format == "json":
        return to_json(report)
    if output_format == "csv":
        return to_csv(report)
    if output_format == "html":
        return to_html(report)
    raise ValueError(f"unknown format {output_format!r}")
