"""Every number of the concordance report, from a store with known events, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from cds_service.report.concordance import Labels, Period, build_report, percent, small_cell
from cds_service.store.feedback import FeedbackStore
from tests.report.store_fixture import SELECT, SIGN, Events, known_events, new_store, postgres_store

GENERATED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LABELS = Labels(
    settings={"after_sorafenib": "after sorafenib", "after_lenvatinib": "after lenvatinib"},
    regimens={"ramucirumab": "Ramucirumab", "cabozantinib": "Cabozantinib", "regorafenib": "Regorafenib"},
    override_reasons={"patient-preference": "Patient preference"},
    gates={
        "afp_below_cutoff": "Ramucirumab with AFP below the cut-off",
        "afp_unknown": "Ramucirumab with no current, comparable AFP",
    },
)
WHOLE_STORE = Period()
SECTIONS = 5  # cards, warnings, data needed, safety gates, feedback not matched: one query each


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeedbackStore]:
    if request.param == "sqlite":
        sqlite = new_store(f"sqlite:///{tmp_path / 'report.sqlite3'}")
        yield sqlite
        sqlite.close()
    else:
        yield from postgres_store()


def report_of(store: FeedbackStore, period: Period = WHOLE_STORE) -> tuple[dict[str, Any], list[str]]:
    """The report and every SQL statement it ran."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        report = build_report(store.engine, period, LABELS, generated_at=GENERATED)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return report, statements


def rows(report: dict[str, Any], table_id: str) -> list[dict[str, Any]]:
    return next(t["rows"] for t in report["tables"] if t["id"] == table_id)


def gate_row(where: dict[str, str], gate: str, kind: str, *counts: Any) -> dict[str, Any]:
    """A row of the per-gate table: cards, accepted, overridden, no feedback, accepted %."""
    measures = ("cards", "accepted", "overridden", "no_feedback", "acceptance_percent")
    return {**where, "gate": gate, "kind": kind, **dict(zip(measures, counts, strict=True))}


def test_small_cells_and_withheld_percentages() -> None:
    assert [small_cell(n) for n in (0, 1, 4, 5, 6)] == [0, "<5", "<5", 5, 6]
    assert percent(6, 11) == 54.5
    assert percent(3, 4) is None  # denominator under 5
    assert percent(3, 20) is None  # would reveal 3
    assert percent(17, 20) is None  # would reveal 3 (the rest)
    assert percent(0, 20) == 0.0
    assert percent(20, 20) == 100.0


def test_every_number_of_the_whole_store(store: FeedbackStore) -> None:
    known_events().write(store)
    report, statements = report_of(store)

    assert len(statements) == SECTIONS
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements)
    assert report["generated_at"] == "2026-12-01T09:00:00+00:00"
    assert report["period"] == {"since": None, "until": None}
    assert report["months"] == ["2026-09", "2026-10", "2026-11"]
    assert report["knowledge_versions"] == ["2026.11.0", "2026.9.0"]
    assert report["small_cell_limit"] == 5
    assert report["notices"][0] == (  # the known events were recorded without their indicator
        "39 cards were recorded before the store kept each card's indicator: theirs is derived from the card's "
        "kind: recommendation = info, does-not-fit = warning, mismatch = warning, data-needed = info."
    )
    assert report["notices"][1] == (
        "Cards of a kind this report does not know (retired-kind) are counted with the indicator 'unknown' "
        "and left out of the warnings."
    )
    assert report["notices"][2] == (  # and without their gates, as before schema revision 0003
        "39 cards were recorded before the store kept the safety gates that fired for each card (schema "
        "revision 0003): their gates are shown as 'unknown'."
    )
    assert rows(report, "cards_by_hook") == [
        {"month": "2026-09", "knowledge_version": "2026.9.0", "hook": "order-select", "cards": 6},
        {"month": "2026-10", "knowledge_version": "2026.11.0", "hook": "order-select", "cards": 26},
        {"month": "2026-10", "knowledge_version": "2026.11.0", "hook": "order-sign", "cards": "<5"},
        {"month": "2026-11", "knowledge_version": "2026.11.0", "hook": "patient-view", "cards": 5},
    ]
    assert rows(report, "cards_by_setting") == [
        {"month": "2026-09", "knowledge_version": "2026.9.0", "setting": "after_sorafenib", "cards": 6},
        {"month": "2026-10", "knowledge_version": "2026.11.0", "setting": "after_sorafenib", "cards": 28},
        {"month": "2026-11", "knowledge_version": "2026.11.0", "setting": "after_lenvatinib", "cards": 5},
    ]
    assert rows(report, "cards_by_regimen") == [
        {"month": "2026-09", "knowledge_version": "2026.9.0", "regimen": "ramucirumab", "cards": 6},
        {"month": "2026-10", "knowledge_version": "2026.11.0", "regimen": "cabozantinib", "cards": 8},
        {"month": "2026-10", "knowledge_version": "2026.11.0", "regimen": "ramucirumab", "cards": 18},
        {"month": "2026-10", "knowledge_version": "2026.11.0", "regimen": "regorafenib", "cards": "<5"},
        {"month": "2026-11", "knowledge_version": "2026.11.0", "regimen": "(none selected)", "cards": 5},
    ]
    september, october, november = (
        {"month": "2026-09", "knowledge_version": "2026.9.0"},
        {"month": "2026-10", "knowledge_version": "2026.11.0"},
        {"month": "2026-11", "knowledge_version": "2026.11.0"},
    )
    assert rows(report, "cards_by_indicator") == [
        {**september, "indicator": "warning", "kind": "mismatch", "cards": 6},
        {**october, "indicator": "info", "kind": "data-needed", "cards": 5},
        {**october, "indicator": "info", "kind": "recommendation", "cards": 8},
        {**october, "indicator": "unknown", "kind": "retired-kind", "cards": "<5"},
        {**october, "indicator": "warning", "kind": "mismatch", "cards": 14},
        {**november, "indicator": "info", "kind": "recommendation", "cards": 5},
    ]
    outcome = ("warnings", "accepted", "overridden", "no_feedback", "acceptance_percent")
    assert rows(report, "warnings_by_regimen") == [
        {**september, "regimen": "ramucirumab", **dict(zip(outcome, (6, 5, "<5", 0, None), strict=True))},
        {**october, "regimen": "ramucirumab", **dict(zip(outcome, (12, 6, 5, "<5", 54.5), strict=True))},
        {**october, "regimen": "regorafenib", **dict(zip(outcome, ("<5", 0, "<5", "<5", None), strict=True))},
    ]
    assert rows(report, "warnings_by_setting") == [
        {**september, "setting": "after_sorafenib", **dict(zip(outcome, (6, 5, "<5", 0, None), strict=True))},
        {**october, "setting": "after_sorafenib", **dict(zip(outcome, (14, 6, 6, "<5", 50.0), strict=True))},
    ]
    assert rows(report, "overrides_by_reason") == [
        {**september, "reason": "patient-preference", "overrides": "<5", "share_percent": None},
        {**october, "reason": "(no reason given)", "overrides": "<5", "share_percent": None},
        {**october, "reason": "patient-preference", "overrides": 5, "share_percent": None},
    ]
    assert rows(report, "data_needed_orders") == [
        {
            **october,
            "setting": "after_sorafenib",
            "cards": 5,
            "accepted_order": "<5",
            "overridden": "<5",
            "no_feedback": 0,
            "order_percent": None,
        }
    ]
    assert rows(report, "feedback_unmatched") == [{"month": "2026-10", "outcome": "accepted", "feedback": "<5"}]
    assert rows(report, "cards_by_gate") == [  # recorded before revision 0003: every gate unknown
        gate_row(september, "unknown", "mismatch", 6, 5, "<5", 0, None),
        gate_row(october, "unknown", "data-needed", 5, "<5", "<5", 0, None),
        gate_row(october, "unknown", "mismatch", 14, 6, 6, "<5", 50.0),
        gate_row(october, "unknown", "recommendation", 8, 0, "<5", 5, None),
        gate_row(october, "unknown", "retired-kind", "<5", 0, 0, "<5", None),
        gate_row(november, "unknown", "recommendation", 5, 0, 0, 5, None),
    ]
    assert report["labels"]["gate"] == {"unknown": "Unknown (recorded before the store kept gates)"}
    assert report["totals"] == {
        "cards": 39,
        "warnings": 20,
        "warnings_accepted": 11,
        "warnings_overridden": 7,
        "warnings_no_feedback": "<5",
        "warnings_acceptance_percent": 61.1,
        "data_needed_cards": 5,
        "data_needed_accepted_order": "<5",
        "data_needed_order_percent": None,
        "feedback_unmatched": "<5",
    }
    assert report["charts"] == {
        "acceptance_by_month": [
            {"month": "2026-09", "warnings_acceptance_percent": None, "data_needed_order_percent": None},
            {"month": "2026-10", "warnings_acceptance_percent": 50.0, "data_needed_order_percent": None},
            {"month": "2026-11", "warnings_acceptance_percent": None, "data_needed_order_percent": None},
        ],
        "overrides_by_reason": [
            {"reason": "(no reason given)", "overrides": "<5"},
            {"reason": "patient-preference", "overrides": 6},
        ],
        "cards_by_setting": [{"setting": "after_lenvatinib", "cards": 5}, {"setting": "after_sorafenib", "cards": 34}],
    }
    assert report["summary"] == [
        "In November 2026, 5 cards were issued, 0 of them warnings.",
        "In the whole period, fewer than 5 feedback reports named cards the store did not record.",
    ]
    assert report["labels"]["regimen"]["ramucirumab"] == "Ramucirumab"
    assert report["labels"]["reason"]["patient-preference"] == "Patient preference"


def test_period_keeps_whole_utc_days_and_the_summary_speaks_of_its_last_month(store: FeedbackStore) -> None:
    known_events().write(store)
    report, statements = report_of(store, Period(since=date(2026, 10, 1), until=date(2026, 10, 31)))

    assert len(statements) == SECTIONS
    assert report["period"] == {"since": "2026-10-01", "until": "2026-10-31"}
    assert report["months"] == ["2026-10"]  # September 30 23:59:59 and November 1 00:00 UTC are outside
    assert report["totals"]["cards"] == 28
    assert report["totals"]["warnings"] == 14
    assert rows(report, "cards_by_hook") == [
        {"month": "2026-10", "knowledge_version": "2026.11.0", "hook": "order-select", "cards": 26},
        {"month": "2026-10", "knowledge_version": "2026.11.0", "hook": "order-sign", "cards": "<5"},
    ]
    assert report["summary"] == [
        "In October 2026, 28 cards were issued, 14 of them warnings.",
        "54.5% of warnings about Ramucirumab after sorafenib were accepted (6 of 11 answered).",
        "Across all warnings, 50% of answered warnings were accepted.",
        "The main override reason was patient preference (5 of 6 overrides).",
        "Data-needed cards led to an accepted AFP or lab order: fewer than 5.",
        "In the whole period, fewer than 5 feedback reports named cards the store did not record.",
    ]


def test_an_empty_store_reports_nothing_in_one_query_per_section(store: FeedbackStore) -> None:
    report, statements = report_of(store)
    assert len(statements) == SECTIONS
    assert report["summary"] == ["No cards were issued in this period."]
    assert all(table["rows"] == [] for table in report["tables"])
    assert report["totals"]["cards"] == 0
    assert report["totals"]["warnings_acceptance_percent"] is None


def test_a_stored_indicator_wins_over_the_kind(store: FeedbackStore) -> None:
    """A critical card of a kind the report does not know is a warning, because the store says so."""
    events = Events([], [])
    critical = events.add_cards(
        6,
        "2026-10-05T10:00:00+00:00",
        "contraindication",
        SELECT,
        "first_line",
        ["nivolumab"],
        "2026.11.0",
        gates=["child_pugh_c"],
    )
    for card in critical:
        card["indicator"] = "critical"
    for card in critical[:5]:
        events.answer(card, "overridden", reason="clinical-trial")
    events.write(store)
    report, statements = report_of(store)

    assert len(statements) == SECTIONS
    assert report["notices"] == []
    assert rows(report, "cards_by_indicator") == [
        {
            "month": "2026-10",
            "knowledge_version": "2026.11.0",
            "indicator": "critical",
            "kind": "contraindication",
            "cards": 6,
        }
    ]
    assert rows(report, "warnings_by_regimen") == [
        {
            "month": "2026-10",
            "knowledge_version": "2026.11.0",
            "regimen": "nivolumab",
            "warnings": 6,
            "accepted": 0,
            "overridden": 5,
            "no_feedback": "<5",
            "acceptance_percent": 0.0,
        }
    ]
    assert rows(report, "overrides_by_reason")[0]["overrides"] == 5


def test_a_card_recorded_without_its_indicator_counts_under_its_kinds_indicator(store: FeedbackStore) -> None:
    """Stored indicators and cards recorded before the store kept them (NULL, derived from the kind) side by side:
    each card is counted once, under the indicator it showed, and the notice counts the derived ones."""
    events = Events([], [])
    when, version = "2026-10-06T10:00:00+00:00", "2026.12.0"
    stored = events.add_cards(6, when, "does-not-fit", SELECT, "after_sorafenib", ["regorafenib"], version)
    for card in stored:
        card["indicator"] = "critical"
    derived = events.add_cards(5, when, "does-not-fit", SELECT, "after_sorafenib", ["ramucirumab"], version)
    derived += events.add_cards(7, when, "recommendation", SELECT, "after_sorafenib", ["ramucirumab"], version)
    for card in derived:
        card["indicator"] = None  # recorded before revision 0002
    events.answer(stored[0], "overridden", reason="clinical-trial")
    events.write(store)
    report, _ = report_of(store)

    october = {"month": "2026-10", "knowledge_version": version}
    assert rows(report, "cards_by_indicator") == [
        {**october, "indicator": "critical", "kind": "does-not-fit", "cards": 6},
        {**october, "indicator": "info", "kind": "recommendation", "cards": 7},
        {**october, "indicator": "warning", "kind": "does-not-fit", "cards": 5},
    ]
    assert report["totals"]["cards"] == 18
    assert report["totals"]["warnings"] == 11  # critical and warning, not the recommendation cards
    assert report["notices"][0] == (
        "12 cards were recorded before the store kept each card's indicator: theirs is derived from the card's "
        "kind: recommendation = info, does-not-fit = warning, mismatch = warning, data-needed = info."
    )


def test_cards_by_safety_gate_count_a_card_under_each_gate_that_fired(store: FeedbackStore) -> None:
    """Per gate: cards issued, accepted and overridden, small cells as "<5"; "[]" is no gate, NULL unknown."""
    events = Events([], [])
    when, version = "2026-10-07T09:00:00+00:00", "2026.12.0"
    low_afp = events.add_cards(
        7, when, "does-not-fit", SELECT, "after_sorafenib", ["ramucirumab"], version, "replace", ["afp_below_cutoff"]
    )
    for card in low_afp[:5]:
        events.answer(card, "accepted", named=True)
    events.answer(low_afp[5], "overridden", reason="clinical-trial")
    both = events.add_cards(
        6, when, "does-not-fit", SELECT, "beyond_second_line", ["nivolumab"], version, "replace",
        ["child_pugh_b_or_c", "organ_transplant"],
    )  # fmt: skip
    for card in both:
        events.answer(card, "overridden", reason="patient-preference")
    events.add_cards(5, when, "recommendation", SELECT, "after_sorafenib", ["cabozantinib"], version, gates=[])
    events.add_cards(2, when, "does-not-fit", SIGN, "after_sorafenib", ["regorafenib"], version)  # before 0003
    events.write(store)
    report, statements = report_of(store)

    assert len(statements) == SECTIONS

    october = {"month": "2026-10", "knowledge_version": version}
    assert rows(report, "cards_by_gate") == [
        gate_row(october, "(no gate fired)", "recommendation", 5, 0, 0, 5, None),
        gate_row(october, "afp_below_cutoff", "does-not-fit", 7, 5, "<5", "<5", None),
        gate_row(october, "child_pugh_b_or_c", "does-not-fit", 6, 0, 6, 0, 0.0),
        gate_row(october, "organ_transplant", "does-not-fit", 6, 0, 6, 0, 0.0),
        gate_row(october, "unknown", "does-not-fit", "<5", 0, 0, "<5", None),
    ]
    assert report["notices"][-1] == (
        "fewer than 5 cards were recorded before the store kept the safety gates that fired for each card "
        "(schema revision 0003): their gates are shown as 'unknown'."
    )
    assert report["labels"]["gate"]["afp_below_cutoff"] == "Ramucirumab with AFP below the cut-off"
    assert report["labels"]["gate"]["(no gate fired)"] == "No safety gate fired"
    # A card with two gates is one card: the cards issued and the warnings are not doubled.
    assert report["totals"]["cards"] == 20
    assert report["totals"]["warnings"] == 15


def test_the_gates_section_is_in_the_csv_and_the_html(store: FeedbackStore) -> None:
    from cds_service.report.render import to_csv, to_html

    events = Events([], [])
    cards = events.add_cards(
        5, "2026-10-07T09:00:00+00:00", "does-not-fit", SELECT, "after_sorafenib", ["ramucirumab"], "2026.12.0",
        "replace", ["afp_unknown"],
    )  # fmt: skip
    for card in cards[:2]:
        events.answer(card, "overridden", reason="information-missing")
    events.write(store)
    report, _ = report_of(store)

    csv_lines = [line for line in to_csv(report).splitlines() if line.startswith("cards_by_gate,")]
    assert csv_lines == [
        f"cards_by_gate,2026-10,2026.12.0,gate/kind,afp_unknown / does-not-fit,{measure},{count}"
        for measure, count in (
            ("cards", 5),
            ("accepted", 0),
            ("overridden", "<5"),
            ("no_feedback", "<5"),
            ("acceptance_percent", ""),
        )
    ]
    html = to_html(report)
    section = html[html.index("<section id='cards_by_gate'>") :]
    section = section[: section.index("</section>")]
    assert "<h2>Safety gates</h2>" in html
    assert "<td class='label'>Ramucirumab with no current, comparable AFP</td>" in section
    assert "<td class='count'>&lt;5</td>" in section
