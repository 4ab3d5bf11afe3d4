"""The concordance report's pilot section: what the pharmacists said of the advice, and the releases behind it.

From the verdicts of the review queue (agree, disagree, unsafe) joined to the de-identified record of each card:
agreement by treatment setting, by safety gate and by selected regimen; every card judged unsafe, listed with
its knowledge version and gates; and each knowledge version of the period with its sign-off. Counts of 1 to 4
are shown as "<5" and percentages that would reveal them are left out, as in the rest of the report.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from cds_service.knowledge import Release
from cds_service.report.concordance import MONTH, VERSION, Column, Labels, Period, Table, percent, small_cell
from cds_service.store.review_queue import VERDICT_REASONS, verdict_rows
from cds_service.store.schema import issued_card_table, order_event_table

ORDER_WINDOW = timedelta(days=7)  # an order-sign follows the latest order-select of the same patient within this
ORDER_OUTCOMES = {
    "signed-as-selected": "No warning at selection; the order signed as selected (followed)",
    "switched-to-suggested": "Warned at selection; a suggested regimen was signed instead (followed)",
    "signed-despite-warning": "Warned at selection; the warned order was signed (not followed)",
    "changed-other": "Another regimen was signed than the one selected or suggested",
}
FOLLOWED = ("signed-as-selected", "switched-to-suggested")

PILOT_SECTION = "pilot"
VERDICT_COLUMNS = (
    Column("reviewed", "Cards reviewed", "count"),
    Column("agree", "Agree", "count"),
    Column("disagree", "Disagree", "count"),
    Column("unsafe", "Unsafe", "count"),
    Column("agreement_percent", "Agreement %", "percent"),
)


def _hook(service_id: str) -> str:
    return next((h for h in ("order-select", "order-sign", "patient-view") if service_id.endswith(h)), service_id)


def _regimen(selected: str | None) -> str:
    items = json.loads(selected) if selected else []
    return ", ".join(str(item) for item in items) if items else "(none selected)"


def _gates(stored: str | None) -> tuple[str, ...]:
    """The gate ids of a card; "unknown" when not recorded, "(no gate fired)" when none fired."""
    try:
        gates = json.loads(stored) if stored is not None else None
    except ValueError:
        gates = None
    if not isinstance(gates, list) or not all(isinstance(gate, str) for gate in gates):
        return ("unknown",)
    return tuple(sorted(set(gates))) or ("(no gate fired)",)


def _when(row: Mapping[str, Any]) -> datetime:
    when: datetime = row["issued_at"] or row["reviewed_at"]
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _in_period(row: Mapping[str, Any], period: Period) -> bool:
    when, start, end = _when(row), period.start(), period.end()
    return (start is None or when >= start) and (end is None or when < end)


def _agreement_table(
    table_id: str, title: str, description: str, dimension: str, heading: str, counts: Counter[tuple[str, ...]]
) -> Table:
    """One row per (month, version, value): reviewed, each verdict, agreement % (small-cell rule)."""
    keys = sorted({k[:3] for k in counts})
    rows = []
    for month, version, value in keys:
        verdicts = {v: counts[(month, version, value, v)] for v in ("agree", "disagree", "unsafe")}
        reviewed = sum(verdicts.values())
        rows.append(
            {
                "month": month,
                "knowledge_version": version,
                dimension: value,
                "reviewed": small_cell(reviewed),
                **{v: small_cell(n) for v, n in verdicts.items()},
                "agreement_percent": percent(verdicts["agree"], reviewed),
            }
        )
    return Table(
        table_id,
        PILOT_SECTION,
        title,
        description,
        (MONTH, VERSION, Column(dimension, heading), *VERDICT_COLUMNS),
        rows,
    )


def _selected(stored: str | None) -> frozenset[str]:
    return frozenset(json.loads(stored)) if stored else frozenset()


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def order_outcomes(engine: Engine, period: Period) -> Counter[tuple[str, ...]]:
    """(month, knowledge version, outcome) → orders: each order-sign paired with the latest order-select of the
    same patient pseudonym within ``ORDER_WINDOW`` before it, and what the signed order did with the advice."""
    with engine.connect() as connection:
        events = connection.execute(select(order_event_table).order_by(order_event_table.c.occurred_at)).all()
        warnings = connection.execute(
            select(
                issued_card_table.c.service_id,
                issued_card_table.c.hook_instance,
                issued_card_table.c.suggestions,
            ).where(issued_card_table.c.kind == "does-not-fit")
        ).all()
    suggested: dict[tuple[str, str], set[str]] = {}
    for row in warnings:
        targets = json.loads(row.suggestions).values() if row.suggestions else []
        regimens = {t.split(":", 1)[1] for t in targets if t.startswith("replace-with:")}
        suggested.setdefault((row.service_id, row.hook_instance), set()).update(regimens)
    latest_select: dict[str, Any] = {}
    counts: Counter[tuple[str, ...]] = Counter()
    start, end = period.start(), period.end()
    for event in events:
        when = _aware(event.occurred_at)
        if event.hook == "order-select":
            latest_select[event.patient_key] = event
            continue
        chosen = latest_select.get(event.patient_key)
        if chosen is None or when - _aware(chosen.occurred_at) > ORDER_WINDOW:
            continue
        if (start is not None and when < start) or (end is not None and when >= end):
            continue
        signed, selected = _selected(event.selected), _selected(chosen.selected)
        warned = (chosen.service_id, chosen.hook_instance) in suggested
        if signed == selected:
            outcome = "signed-despite-warning" if warned else "signed-as-selected"
        elif warned and signed and signed <= suggested[(chosen.service_id, chosen.hook_instance)]:
            outcome = "switched-to-suggested"
        else:
            outcome = "changed-other"
        counts[(when.strftime("%Y-%m"), chosen.knowledge_version or "(unknown)", outcome)] += 1
    return counts


def pilot_section(
    engine: Engine, period: Period, labels: Labels, releases: Mapping[str, Release], knowledge_versions: list[str]
) -> dict[str, Any]:
    """The pilot's tables, summary sentences and labels (merged into the report by ``add_pilot_section``)."""
    rows = [row for row in verdict_rows(engine) if _in_period(row, period)]
    by_setting: Counter[tuple[str, ...]] = Counter()
    by_gate: Counter[tuple[str, ...]] = Counter()
    by_regimen: Counter[tuple[str, ...]] = Counter()
    unsafe = []
    for row in rows:
        month = _when(row).strftime("%Y-%m")
        version = row["knowledge_version"] or "(unknown)"
        verdict = row["verdict"]
        setting = row["setting"] or "(not determined)"
        regimen = _regimen(row["selected"])
        gates = _gates(row["gates"])
        by_setting[(month, version, setting, verdict)] += 1
        by_regimen[(month, version, regimen, verdict)] += 1
        for gate in gates:
            by_gate[(month, version, gate, verdict)] += 1
        if verdict == "unsafe":
            unsafe.append(
                {
                    "month": month,
                    "knowledge_version": version,
                    "card": row["card_uuid"],
                    "hook": _hook(row["service_id"] or ""),
                    "indicator": row["indicator"] or "",
                    "setting": setting,
                    "regimen": regimen,
                    "gates": ", ".join(gates),
                    "verdict_reason": row["reason_code"],
                }
            )
    orders = order_outcomes(engine, period)
    versions = sorted({*knowledge_versions, *(k[1] for k in by_setting)})
    tables = [
        _agreement_table(
            "pilot_agreement_by_setting",
            "Pharmacist agreement by treatment setting",
            "Verdicts of the review queue on the cards issued (month of issue): agree, disagree, unsafe.",
            "setting",
            "Setting",
            by_setting,
        ),
        _agreement_table(
            "pilot_agreement_by_gate",
            "Pharmacist agreement by safety gate",
            "A card on which several gates fired counts under each.",
            "gate",
            "Safety gate",
            by_gate,
        ),
        _agreement_table(
            "pilot_agreement_by_regimen",
            "Pharmacist agreement by selected regimen",
            "The regimen of the draft order (none for patient-view).",
            "regimen",
            "Selected regimen",
            by_regimen,
        ),
        Table(
            "pilot_unsafe_cards",
            PILOT_SECTION,
            "Cards judged unsafe",
            "Every card a pharmacist judged unsafe, with the knowledge version and the gates behind it (card uuid: "
            "the de-identified record; the review queue holds the chart reference until its retention ends).",
            (
                MONTH,
                VERSION,
                Column("card", "Card"),
                Column("hook", "Hook"),
                Column("indicator", "Indicator"),
                Column("setting", "Setting"),
                Column("regimen", "Selected regimen"),
                Column("gates", "Gates"),
                Column("verdict_reason", "Reviewer's reason"),
            ),
            sorted(unsafe, key=lambda r: (r["month"], r["knowledge_version"], r["card"])),
        ),
        Table(
            "pilot_orders",
            PILOT_SECTION,
            "Concordance from orders: the order signed after the advice at selection",
            "Each order-sign paired with the latest order-select of the same patient (a keyed pseudonym, never the "
            "id) within 7 days before it; knowledge version of the selection.",
            (MONTH, VERSION, Column("order_outcome", "What was signed"), Column("orders", "Orders", "count")),
            [
                {"month": m, "knowledge_version": v, "order_outcome": o, "orders": small_cell(n)}
                for (m, v, o), n in sorted(orders.items())
            ],
        ),
        Table(
            "pilot_releases",
            PILOT_SECTION,
            "Knowledge releases and their sign-off",
            "Each knowledge version of the period: whether its content is locked and who signed it off.",
            (VERSION, Column("sign_off", "Sign-off")),
            [
                {
                    "month": "",
                    "knowledge_version": version,
                    "sign_off": releases[version.split("+", 1)[0]].describe()
                    if version.split("+", 1)[0] in releases
                    else "not in releases.yaml",
                }
                for version in versions
            ],
        ),
    ]
    verdicts = Counter(row["verdict"] for row in rows)
    reviewed = sum(verdicts.values())
    if reviewed:
        rate = percent(verdicts["agree"], reviewed)
        agreement = f"agreed with {rate:g}% of them" if rate is not None else "too few to report an agreement rate"
        how_many = "fewer than 5" if 0 < reviewed < 5 else str(reviewed)
        unsafe_count = verdicts["unsafe"]
        judged = "fewer than 5" if 0 < unsafe_count < 5 else str(unsafe_count)
        summary = [
            f"Pilot: pharmacists reviewed {how_many} cards and {agreement}; {judged} were judged unsafe "
            "(listed under Pilot)."
        ]
    else:
        summary = []  # no pilot, or no verdict yet: the tables say so
    paired = sum(orders.values())
    if paired:
        followed = sum(n for k, n in orders.items() if k[2] in FOLLOWED)
        rate = percent(followed, paired)
        figure = f"{rate:g}%" if rate is not None else "too few to report a rate"
        how_many = "fewer than 5" if paired < 5 else str(paired)
        summary.append(f"Pilot: of {how_many} orders signed after a selection, the advice was followed in {figure}.")
    reasons = dict(VERDICT_REASONS)
    return {
        "tables": [t.to_json() for t in tables],
        "summary": summary,
        "labels": {
            "setting": {k[2]: labels.of("setting", k[2]) for k in by_setting},
            "regimen": {k[2]: labels.of("regimen", k[2]) for k in by_regimen},
            "gate": {k[2]: labels.of("gate", k[2]) for k in by_gate},
            "order_outcome": {k[2]: ORDER_OUTCOMES[k[2]] for k in orders},
            "verdict_reason": {
                r["verdict_reason"]: reasons.get(r["verdict_reason"], r["verdict_reason"]) for r in unsafe
            },
        },
        "totals": {
            "pilot_reviewed": small_cell(reviewed),
            "pilot_agree": small_cell(verdicts["agree"]),
            "pilot_unsafe": small_cell(verdicts["unsafe"]),
            "pilot_orders_paired": small_cell(paired),
        },
    }


def add_pilot_section(
    report: dict[str, Any], engine: Engine, period: Period, labels: Labels, releases: Mapping[str, Release]
) -> dict[str, Any]:
    """The report with the pilot's tables appended, its summary sentence and labels merged in."""
    section = pilot_section(engine, period, labels, releases, list(report.get("knowledge_versions", [])))
    report["tables"] = [*report["tables"], *section["tables"]]
    report["summary"] = [*report["summary"], *section["summary"]]
    report.setdefault("totals", {}).update(section["totals"])
    for dimension, names in section["labels"].items():
        report.setdefault("labels", {}).setdefault(dimension, {}).update(names)
    return report
