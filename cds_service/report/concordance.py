"""The concordance report's numbers: what happened to the cards issued, from the store, in five queries.

One SQL query per section (cards issued, warnings and their feedback, data-needed cards and their orders,
cards and their feedback by the safety gates that fired, feedback on cards the store does not know),
grouped in the database; everything else is summed here.
Counts from 1 to 4 are shown as "<5", and a percentage that would reveal such a count is left out.
The definitions are documented once, in docs/concordance-report.md.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Engine, Row, and_, case, distinct, func, or_, select
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.selectable import Select

from cds_service.store.schema import feedback_table, issued_card_table

SMALL_CELL_LIMIT = 5
SMALL_CELL = "<5"

# The indicator of each kind of card, for cards recorded before the store kept the indicator itself
# ("mismatch" is the former name of "does-not-fit"; a does-not-fit card may also have been critical).
KIND_INDICATOR: dict[str, str] = {
    "recommendation": "info",
    "does-not-fit": "warning",
    "mismatch": "warning",
    "data-needed": "info",
}
# Cards a clinician can override with a coded reason: the "warnings" of the report.
WARNING_INDICATORS = ("warning", "critical")
DATA_NEEDED_KIND = "data-needed"
HOOKS = ("order-select", "order-sign", "patient-view")
NONE_SELECTED = "(none selected)"
NOT_DETERMINED = "(not determined)"
NO_REASON = "(no reason given)"
UNKNOWN = "(unknown)"
# The gates of a card recorded before the store kept them (schema revision 0003), and of a card for which
# no safety gate fired.
GATES_UNKNOWN = "unknown"
NO_GATE = "(no gate fired)"
GATE_LABELS = {GATES_UNKNOWN: "Unknown (recorded before the store kept gates)", NO_GATE: "No safety gate fired"}

Cell = int | str


def small_cell(count: int) -> Cell:
    """A count as published: 1 to 4 events are shown as "<5" (0 and 5 or more as they are)."""
    return SMALL_CELL if 0 < count < SMALL_CELL_LIMIT else count


def percent(part: int, whole: int) -> float | None:
    """part/whole in %, one decimal; None when whole is under 5 or the figure would reveal a count of 1 to 4."""
    if whole < SMALL_CELL_LIMIT or 0 < part < SMALL_CELL_LIMIT or 0 < whole - part < SMALL_CELL_LIMIT:
        return None
    return round(100 * part / whole, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """Calendar days, both included, in UTC: cards issued from ``since`` 00:00 to ``until`` 24:00."""

    since: date | None = None
    until: date | None = None

    def start(self) -> datetime | None:
        return datetime.combine(self.since, time(), UTC) if self.since else None

    def end(self) -> datetime | None:
        return datetime.combine(self.until + timedelta(days=1), time(), UTC) if self.until else None


@dataclass(frozen=True, slots=True)
class Labels:
    """How codes read for a committee (from the knowledge base and the override-reason CodeSystem)."""

    settings: Mapping[str, str] = field(default_factory=dict)
    regimens: Mapping[str, str] = field(default_factory=dict)
    override_reasons: Mapping[str, str] = field(default_factory=dict)
    gates: Mapping[str, str] = field(default_factory=dict)  # gate id -> title (knowledge/gates.yaml)

    def _regimen(self, item: str) -> str:
        """A regimen id, or agents joined by "+" when the selected order matched no regimen."""
        if item in self.regimens:
            return self.regimens[item]
        return " + ".join(self.regimens.get(agent, agent) for agent in item.split("+"))

    def of(self, dimension: str, value: str) -> str:
        if dimension == "setting":
            return self.settings.get(value, value)
        if dimension == "reason":
            return self.override_reasons.get(value, value)
        if dimension == "gate":
            return self.gates.get(value) or GATE_LABELS.get(value, value)
        if dimension == "regimen":
            return ", ".join(self._regimen(item) for item in value.split(", "))
        return value


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    heading: str
    kind: str = "text"  # text | count | percent


@dataclass(frozen=True, slots=True)
class Table:
    id: str
    section: str
    title: str
    description: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "section": self.section,
            "title": self.title,
            "description": self.description,
            "columns": [c.key for c in self.columns],
            "headings": {c.key: c.heading for c in self.columns},
            "measures": [c.key for c in self.columns if c.kind != "text"],
            "rows": self.rows,
        }


MONTH = Column("month", "Month")
VERSION = Column("knowledge_version", "Knowledge version")


def _month_of(engine: Engine, column: Any) -> ColumnElement[str]:
    """The UTC calendar month (YYYY-MM) of a timestamp, in the database's own dialect."""
    if engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    if engine.dialect.name == "sqlite":
        # SQLAlchemy stores UTC timestamps as "YYYY-MM-DD HH:MM:SS.ffffff": the month is the first 7 characters
        # (cheaper than strftime on a million rows).
        return func.substr(column, 1, 7)
    raise ValueError(f"the concordance report supports SQLite and PostgreSQL, not {engine.dialect.name}")


def _is_warning() -> ColumnElement[bool]:
    """Warning or critical; a card recorded before the store kept its indicator (NULL): a plain test on the kind
    (no CASE per row)."""
    card = issued_card_table.c
    by_kind = card.kind.in_([k for k, v in KIND_INDICATOR.items() if v in WARNING_INDICATORS])
    return or_(card.indicator.in_(WARNING_INDICATORS), and_(card.indicator.is_(None), by_kind))


def _within(column: Any, period: Period) -> list[ColumnElement[bool]]:
    start, end = period.start(), period.end()
    return [*([column >= start] if start else []), *([column < end] if end else [])]


def _hook(service_id: str) -> str:
    return next((hook for hook in HOOKS if service_id.endswith(hook)), service_id)


def _regimen(selected: str | None) -> str:
    items = json.loads(selected) if selected else []
    return ", ".join(str(item) for item in items) if items else NONE_SELECTED


def _gates(stored: str | None) -> tuple[str, ...]:
    """The gate ids of a stored card: "unknown" when not recorded (NULL, or not a list of ids)."""
    try:
        gates = json.loads(stored) if stored is not None else None
    except ValueError:
        gates = None
    if not isinstance(gates, list) or not all(isinstance(gate, str) for gate in gates):
        return (GATES_UNKNOWN,)
    return tuple(sorted(set(gates))) or (NO_GATE,)


def cards_query(engine: Engine, period: Period) -> Select[Any]:
    card = issued_card_table.c
    month = _month_of(engine, card.issued_at).label("month")
    # A card recorded without its indicator (NULL): the kind says it (derived here, not once per row in SQL).
    keys = (
        month,
        card.knowledge_version,
        card.service_id,
        card.kind,
        card.indicator,
        card.setting,
        card.selected,
        card.gates,
    )
    return select(*keys, func.count().label("n")).where(*_within(card.issued_at, period)).group_by(*keys)


def _card_feedback_join() -> Any:
    card, feedback = issued_card_table.c, feedback_table.c
    on = and_(feedback.service_id == card.service_id, feedback.card_uuid == card.card_uuid)
    return issued_card_table.outerjoin(feedback_table, on)


def warnings_query(engine: Engine, period: Period) -> Select[Any]:
    card, feedback = issued_card_table.c, feedback_table.c
    month = _month_of(engine, card.issued_at).label("month")
    keys = (month, card.knowledge_version, card.setting, card.selected, feedback.outcome, feedback.override_reason_code)
    return (
        select(*keys, func.count(feedback.id).label("reports"), func.count().label("n"))
        .select_from(_card_feedback_join())
        .where(_is_warning(), *_within(card.issued_at, period))
        .group_by(*keys)
    )


def data_needed_query(engine: Engine, period: Period) -> Select[Any]:
    card, feedback = issued_card_table.c, feedback_table.c
    month = _month_of(engine, card.issued_at).label("month")
    named = case((feedback.accepted_suggestions.is_not(None), 1), else_=0).label("named")
    keys = (month, card.knowledge_version, card.setting, feedback.outcome, named)
    return (
        select(*keys, func.count(distinct(card.card_uuid)).label("cards"), func.count(feedback.id).label("reports"))
        .select_from(_card_feedback_join())
        .where(card.kind == DATA_NEEDED_KIND, *_within(card.issued_at, period))
        .group_by(*keys)
    )


def gates_query(engine: Engine, period: Period) -> Select[Any]:
    """Feedback by the safety gates that fired for the card it answers (the gates as stored, a JSON list).

    Only cards with feedback are read (a join from the smaller feedback table): the cards issued per gate
    come from the cards query, and those without feedback are the difference.
    """
    card, feedback = issued_card_table.c, feedback_table.c
    month = _month_of(engine, card.issued_at).label("month")
    keys = (month, card.knowledge_version, card.gates, card.kind)
    on = and_(feedback.service_id == card.service_id, feedback.card_uuid == card.card_uuid)

    def reports(outcome: str) -> ColumnElement[int]:
        return func.sum(case((feedback.outcome == outcome, 1), else_=0))

    return (
        select(
            *keys,
            func.count(distinct(card.card_uuid)).label("answered"),
            reports("accepted").label("accepted"),
            reports("overridden").label("overridden"),
        )
        .select_from(issued_card_table.join(feedback_table, on))
        .where(*_within(card.issued_at, period))
        .group_by(*keys)
    )


def unmatched_feedback_query(engine: Engine, period: Period) -> Select[Any]:
    card, feedback = issued_card_table.c, feedback_table.c
    month = _month_of(engine, feedback.received_at).label("month")
    # Card ids are unique across services: the lookup reads the primary key index only.
    return (
        select(month, feedback.outcome, func.count().label("n"))
        .select_from(feedback_table.outerjoin(issued_card_table, feedback.card_uuid == card.card_uuid))
        .where(card.card_uuid.is_(None), *_within(feedback.received_at, period))
        .group_by(month, feedback.outcome)
    )


class CardKey(NamedTuple):
    """What the cards issued are counted by."""

    month: str
    version: str
    hook: str
    kind: str
    indicator: str
    setting: str
    regimen: str


class WarningKey(NamedTuple):
    """What warnings (and their feedback) are counted by."""

    month: str
    version: str
    setting: str
    regimen: str


class WarningOutcomeKey(NamedTuple):
    month: str
    version: str
    setting: str
    regimen: str
    outcome: str


class OverrideKey(NamedTuple):
    month: str
    version: str
    reason: str


class SettingKey(NamedTuple):
    month: str
    version: str
    setting: str


class DataNeededKey(NamedTuple):
    """``measure``: no_feedback, accepted_order or overridden."""

    month: str
    version: str
    setting: str
    measure: str


class UnmatchedKey(NamedTuple):
    month: str
    outcome: str


class GateKey(NamedTuple):
    month: str
    version: str
    gate: str
    kind: str


class GateOutcomeKey(NamedTuple):
    month: str
    version: str
    gate: str
    kind: str
    outcome: str


@dataclass
class _Numbers:
    """Unsuppressed counts, each keyed by named fields."""

    cards: Counter[CardKey] = field(default_factory=Counter)
    warning_reports: Counter[WarningOutcomeKey] = field(default_factory=Counter)
    warning_silent: Counter[WarningKey] = field(default_factory=Counter)
    overrides: Counter[OverrideKey] = field(default_factory=Counter)
    data_needed: Counter[DataNeededKey] = field(default_factory=Counter)
    unmatched: Counter[UnmatchedKey] = field(default_factory=Counter)
    gate_cards: Counter[GateKey] = field(default_factory=Counter)
    gate_reports: Counter[GateOutcomeKey] = field(default_factory=Counter)
    gate_answered: Counter[GateKey] = field(default_factory=Counter)
    indicator_derived: int = 0  # cards whose indicator was not stored (recorded before the store kept it)
    gates_unknown: int = 0  # cards whose gates were not stored (recorded before the store kept them)


def _indicator_of(row: Row[Any]) -> str:
    stored: str | None = row.indicator
    return stored or KIND_INDICATOR.get(row.kind, "unknown")


def _section_rows(engine: Engine, queries: list[Select[Any]]) -> list[Sequence[Row[Any]]]:
    """Run the section queries, each on its own connection and thread (they are independent).

    A shared in-memory SQLite database (one connection for every thread) runs them one after another.
    """

    def run(query: Select[Any]) -> Sequence[Row[Any]]:
        with engine.connect() as connection:
            return connection.execute(query).fetchall()

    if isinstance(engine.pool, StaticPool):
        return [run(query) for query in queries]
    with ThreadPoolExecutor(max_workers=len(queries), thread_name_prefix="concordance") as pool:
        return list(pool.map(run, queries))


def _collect(engine: Engine, period: Period) -> _Numbers:
    numbers = _Numbers()
    cards, warnings, data_needed, gates, unmatched = _section_rows(
        engine,
        [
            cards_query(engine, period),
            warnings_query(engine, period),
            data_needed_query(engine, period),
            gates_query(engine, period),
            unmatched_feedback_query(engine, period),
        ],
    )
    for row in cards:
        version = row.knowledge_version or UNKNOWN
        if not row.indicator:
            numbers.indicator_derived += row.n
        setting, regimen = row.setting or NOT_DETERMINED, _regimen(row.selected)
        hook = _hook(row.service_id)
        numbers.cards[CardKey(row.month, version, hook, row.kind, _indicator_of(row), setting, regimen)] += row.n
        for gate in _gates(row.gates):  # a card counts once under each gate that fired for it
            numbers.gate_cards[GateKey(row.month, version, gate, row.kind)] += row.n
        if row.gates is None:
            numbers.gates_unknown += row.n
    for row in gates:
        version = row.knowledge_version or UNKNOWN
        for gate in _gates(row.gates):
            numbers.gate_answered[GateKey(row.month, version, gate, row.kind)] += row.answered
            for outcome, reports in (("accepted", row.accepted), ("overridden", row.overridden)):
                numbers.gate_reports[GateOutcomeKey(row.month, version, gate, row.kind, outcome)] += int(reports or 0)
    for row in warnings:
        where = WarningKey(
            row.month, row.knowledge_version or UNKNOWN, row.setting or NOT_DETERMINED, _regimen(row.selected)
        )
        if row.outcome is None:
            numbers.warning_silent[where] += row.n
            continue
        numbers.warning_reports[WarningOutcomeKey(*where, row.outcome)] += row.reports
        if row.outcome == "overridden":
            reason = row.override_reason_code or NO_REASON
            numbers.overrides[OverrideKey(where.month, where.version, reason)] += row.reports
    for row in data_needed:
        group = (row.month, row.knowledge_version or UNKNOWN, row.setting or NOT_DETERMINED)
        if row.outcome is None:
            numbers.data_needed[DataNeededKey(*group, "no_feedback")] += row.cards
        elif row.outcome == "accepted" and row.named:
            numbers.data_needed[DataNeededKey(*group, "accepted_order")] += row.cards
        elif row.outcome == "overridden":
            numbers.data_needed[DataNeededKey(*group, "overridden")] += row.reports
    for row in unmatched:
        numbers.unmatched[UnmatchedKey(row.month, row.outcome)] += row.n
    return numbers


Key = TypeVar("Key", bound=Hashable)
Regrouped = TypeVar("Regrouped", bound=Hashable)


def _sum(counter: Mapping[Key, int], by: Callable[[Key], Regrouped]) -> Counter[Regrouped]:
    """Re-key a counter on ``by`` (a key's named fields) and add up."""
    total: Counter[Regrouped] = Counter()
    for key, n in counter.items():
        total[by(key)] += n
    return total


def _month_version(key: CardKey | WarningKey | OverrideKey) -> tuple[str, str]:
    return key.month, key.version


def _count_table(
    table_id: str, title: str, description: str, dimension: str, heading: str, counts: Counter[tuple[str, str, str]]
) -> Table:
    """Cards by (month, knowledge version, ``dimension``)."""
    rows = [
        {"month": m, "knowledge_version": v, dimension: value, "cards": small_cell(n)}
        for (m, v, value), n in sorted(counts.items())
    ]
    columns = (MONTH, VERSION, Column(dimension, heading), Column("cards", "Cards", "count"))
    return Table(table_id, "cards", title, description, columns, rows)


FEEDBACK_COLUMNS = (
    Column("accepted", "Accepted", "count"),
    Column("overridden", "Overridden", "count"),
    Column("no_feedback", "No feedback", "count"),
    Column("acceptance_percent", "Accepted %", "percent"),
)
WARNING_COLUMNS = (Column("warnings", "Warnings", "count"), *FEEDBACK_COLUMNS)


def _feedback_cells(accepted: int, overridden: int, no_feedback: int) -> dict[str, Cell | float | None]:
    """The FEEDBACK_COLUMNS of a row: accepted % = accepted / (accepted + overridden)."""
    return {
        "accepted": small_cell(accepted),
        "overridden": small_cell(overridden),
        "no_feedback": small_cell(no_feedback),
        "acceptance_percent": percent(accepted, accepted + overridden),
    }


def _warning_rows(numbers: _Numbers, issued: Counter[WarningKey], dimension: Literal["setting", "regimen"]) -> Table:
    """Warnings by setting or by selected regimen."""

    def by(key: WarningKey | WarningOutcomeKey) -> tuple[str, str, str]:
        return key.month, key.version, key.setting if dimension == "setting" else key.regimen

    reports = _sum(numbers.warning_reports, lambda k: (*by(k), k.outcome))
    silent = _sum(numbers.warning_silent, by)
    per_value = _sum(issued, by)
    rows = []
    for month, version, value in sorted(per_value):
        accepted = reports[(month, version, value, "accepted")]
        overridden = reports[(month, version, value, "overridden")]
        rows.append(
            {
                "month": month,
                "knowledge_version": version,
                dimension: value,
                "warnings": small_cell(per_value[(month, version, value)]),
                **_feedback_cells(accepted, overridden, silent[(month, version, value)]),
            }
        )
    heading = "Setting" if dimension == "setting" else "Selected regimen"
    return Table(
        f"warnings_by_{dimension}",
        "warnings",
        f"Warnings by {heading.lower()}: accepted suggestions and overrides",
        "Feedback reports on warning (and critical) cards; accepted % = accepted / (accepted + overridden).",
        (MONTH, VERSION, Column(dimension, heading), *WARNING_COLUMNS),
        rows,
    )


def _gates_table(numbers: _Numbers) -> Table:
    """Cards by the safety gates that fired for them (a card under each of its gates), with their feedback."""
    rows = []
    for key in sorted(numbers.gate_cards):
        accepted = numbers.gate_reports[GateOutcomeKey(*key, "accepted")]
        overridden = numbers.gate_reports[GateOutcomeKey(*key, "overridden")]
        rows.append(
            {
                "month": key.month,
                "knowledge_version": key.version,
                "gate": key.gate,
                "kind": key.kind,
                "cards": small_cell(numbers.gate_cards[key]),
                **_feedback_cells(accepted, overridden, numbers.gate_cards[key] - numbers.gate_answered[key]),
            }
        )
    return Table(
        "cards_by_gate",
        "gates",
        "Cards by safety gate: accepted and overridden",
        "Each card counts once under every safety gate that fired for it (knowledge/gates.yaml); feedback "
        "reports on those cards; accepted % = accepted / (accepted + overridden).",
        (
            MONTH,
            VERSION,
            Column("gate", "Safety gate"),
            Column("kind", "Kind"),
            Column("cards", "Cards", "count"),
            *FEEDBACK_COLUMNS,
        ),
        rows,
    )


def build_report(engine: Engine, period: Period, labels: Labels, *, generated_at: datetime) -> dict[str, Any]:
    """The whole report as JSON-ready data: five queries, then sums, small-cell rule and summary."""
    numbers = _collect(engine, period)
    cards = numbers.cards
    warning_cards = Counter({k: n for k, n in cards.items() if k.indicator in WARNING_INDICATORS})
    warnings_issued = _sum(warning_cards, lambda k: WarningKey(k.month, k.version, k.setting, k.regimen))
    data_needed_cards = Counter({k: n for k, n in cards.items() if k.kind == DATA_NEEDED_KIND})
    data_needed_issued = _sum(data_needed_cards, lambda k: SettingKey(k.month, k.version, k.setting))

    indicator_rows = [
        {"month": m, "knowledge_version": v, "indicator": indicator, "kind": kind, "cards": small_cell(n)}
        for (m, v, indicator, kind), n in sorted(
            _sum(cards, lambda k: (k.month, k.version, k.indicator, k.kind)).items()
        )
    ]
    tables = [
        _count_table(
            "cards_by_hook",
            "Cards issued by hook",
            "Distinct cards recorded.",
            "hook",
            "Hook",
            _sum(cards, lambda k: (k.month, k.version, k.hook)),
        ),
        _count_table(
            "cards_by_setting",
            "Cards issued by treatment setting",
            "The setting the service worked out for the patient.",
            "setting",
            "Setting",
            _sum(cards, lambda k: (k.month, k.version, k.setting)),
        ),
        _count_table(
            "cards_by_regimen",
            "Cards issued by selected regimen",
            "The regimen of the draft order (none for patient-view).",
            "regimen",
            "Selected regimen",
            _sum(cards, lambda k: (k.month, k.version, k.regimen)),
        ),
        Table(
            "cards_by_indicator",
            "cards",
            "Cards issued by indicator and kind",
            "The indicator as the card showed it (info, warning, critical) and what the card was for.",
            (
                MONTH,
                VERSION,
                Column("indicator", "Indicator"),
                Column("kind", "Kind"),
                Column("cards", "Cards", "count"),
            ),
            indicator_rows,
        ),
        _warning_rows(numbers, warnings_issued, "regimen"),
        _warning_rows(numbers, warnings_issued, "setting"),
        _overrides_table(numbers),
        _data_needed_table(numbers, data_needed_issued),
        _gates_table(numbers),
        Table(
            "feedback_unmatched",
            "unmatched",
            "Feedback on cards not in the store",
            "Feedback naming a card the store did not record (month the feedback was received).",
            (MONTH, Column("outcome", "Outcome"), Column("feedback", "Feedback reports", "count")),
            [
                {"month": key.month, "outcome": key.outcome, "feedback": small_cell(n)}
                for key, n in sorted(numbers.unmatched.items())
            ],
        ),
    ]
    totals = _totals(numbers, warnings_issued, data_needed_issued)
    return {
        "report": "concordance",
        "generated_at": generated_at.astimezone(UTC).isoformat(timespec="seconds"),
        "period": {
            "since": period.since.isoformat() if period.since else None,
            "until": period.until.isoformat() if period.until else None,
        },
        "months": sorted({k.month for k in cards}),
        "knowledge_versions": sorted({k.version for k in cards}),
        "small_cell_limit": SMALL_CELL_LIMIT,
        "notices": _notices(cards, numbers.indicator_derived, numbers.gates_unknown),
        "summary": _summary(numbers, warnings_issued, data_needed_issued, labels),
        "totals": {key: small_cell(n) if isinstance(n, int) else n for key, n in totals.items()},
        "labels": _labels_used(cards, numbers, labels),
        "charts": _chart_data(numbers, data_needed_issued),
        "tables": [t.to_json() for t in tables],
    }


def _overrides_table(numbers: _Numbers) -> Table:
    per_version = _sum(numbers.overrides, _month_version)
    rows = [
        {
            "month": key.month,
            "knowledge_version": key.version,
            "reason": key.reason,
            "overrides": small_cell(n),
            "share_percent": percent(n, per_version[_month_version(key)]),
        }
        for key, n in sorted(numbers.overrides.items())
    ]
    return Table(
        "overrides_by_reason",
        "warnings",
        "Overrides by reason",
        "Override reports on warnings by coded reason; share = of all overrides that month and version.",
        (
            MONTH,
            VERSION,
            Column("reason", "Override reason"),
            Column("overrides", "Overrides", "count"),
            Column("share_percent", "Share %", "percent"),
        ),
        rows,
    )


def _data_needed_table(numbers: _Numbers, issued: Counter[SettingKey]) -> Table:
    """``issued``: data-needed cards by (month, knowledge version, setting)."""
    rows = []
    for key in sorted(issued):
        n = issued[key]
        ordered = numbers.data_needed[DataNeededKey(*key, "accepted_order")]
        rows.append(
            {
                "month": key.month,
                "knowledge_version": key.version,
                "setting": key.setting,
                "cards": small_cell(n),
                "accepted_order": small_cell(ordered),
                "overridden": small_cell(numbers.data_needed[DataNeededKey(*key, "overridden")]),
                "no_feedback": small_cell(numbers.data_needed[DataNeededKey(*key, "no_feedback")]),
                "order_percent": percent(ordered, n),
            }
        )
    columns = (
        MONTH,
        VERSION,
        Column("setting", "Setting"),
        Column("cards", "Data-needed cards", "count"),
        Column("accepted_order", "Led to an accepted order", "count"),
        Column("overridden", "Overridden", "count"),
        Column("no_feedback", "No feedback", "count"),
        Column("order_percent", "Order %", "percent"),
    )
    return Table(
        "data_needed_orders",
        "data_needed",
        "Data-needed cards that led to an accepted AFP or lab order",
        "Cards whose accepted feedback named one of its order suggestions; order % = of data-needed cards.",
        columns,
        rows,
    )


def _totals(
    numbers: _Numbers, warnings_issued: Counter[WarningKey], data_needed_issued: Counter[SettingKey]
) -> dict[str, int | float | None]:
    outcomes = _sum(numbers.warning_reports, lambda k: k.outcome)
    accepted, overridden = outcomes["accepted"], outcomes["overridden"]
    data_needed = sum(data_needed_issued.values())
    ordered = sum(n for k, n in numbers.data_needed.items() if k.measure == "accepted_order")
    return {
        "cards": sum(numbers.cards.values()),
        "warnings": sum(warnings_issued.values()),
        "warnings_accepted": accepted,
        "warnings_overridden": overridden,
        "warnings_no_feedback": sum(numbers.warning_silent.values()),
        "warnings_acceptance_percent": percent(accepted, accepted + overridden),
        "data_needed_cards": data_needed,
        "data_needed_accepted_order": ordered,
        "data_needed_order_percent": percent(ordered, data_needed),
        "feedback_unmatched": sum(numbers.unmatched.values()),
    }


def _chart_data(numbers: _Numbers, data_needed_issued: Counter[SettingKey]) -> dict[str, list[dict[str, Any]]]:
    """What the HTML charts draw: the whole period per category, per month for rates (small-cell rule)."""
    outcomes = _sum(numbers.warning_reports, lambda k: (k.month, k.outcome))
    needed = _sum(data_needed_issued, lambda k: k.month)
    accepted_orders = Counter({k: n for k, n in numbers.data_needed.items() if k.measure == "accepted_order"})
    ordered = _sum(accepted_orders, lambda k: k.month)
    months = sorted({k.month for k in numbers.cards})
    return {
        "acceptance_by_month": [
            {
                "month": month,
                "warnings_acceptance_percent": percent(
                    outcomes[(month, "accepted")], outcomes[(month, "accepted")] + outcomes[(month, "overridden")]
                ),
                "data_needed_order_percent": percent(ordered[month], needed[month]),
            }
            for month in months
        ],
        "overrides_by_reason": [
            {"reason": reason, "overrides": small_cell(n)}
            for reason, n in sorted(_sum(numbers.overrides, lambda k: k.reason).items())
        ],
        "cards_by_setting": [
            {"setting": setting, "cards": small_cell(n)}
            for setting, n in sorted(_sum(numbers.cards, lambda k: k.setting).items())
        ],
    }


def _notices(cards: Counter[CardKey], indicator_derived: int, gates_unknown: int) -> list[str]:
    notices = []
    derivation = ", ".join(f"{kind} = {indicator}" for kind, indicator in KIND_INDICATOR.items())
    if indicator_derived:
        notices.append(
            f"{_how_many(indicator_derived)} cards were recorded before the store kept each card's indicator: "
            f"theirs is derived from the card's kind: {derivation}."
        )
    unknown = sorted({k.kind for k in cards if k.indicator == "unknown"})
    if unknown:
        notices.append(
            f"Cards of a kind this report does not know ({', '.join(unknown)}) are counted with the indicator "
            "'unknown' and left out of the warnings."
        )
    if gates_unknown:
        notices.append(
            f"{_how_many(gates_unknown)} cards were recorded before the store kept the safety gates that fired for "
            f"each card (schema revision 0003): their gates are shown as '{GATES_UNKNOWN}'."
        )
    return notices


def _labels_used(cards: Counter[CardKey], numbers: _Numbers, labels: Labels) -> dict[str, dict[str, str]]:
    """Display names of the codes in this report (for the HTML and for readers of the JSON)."""
    return {
        "setting": {k.setting: labels.of("setting", k.setting) for k in sorted(cards)},
        "regimen": {k.regimen: labels.of("regimen", k.regimen) for k in sorted(cards)},
        "reason": {k.reason: labels.of("reason", k.reason) for k in sorted(numbers.overrides)},
        "gate": {k.gate: labels.of("gate", k.gate) for k in sorted(numbers.gate_cards)},
    }


def _month_name(month: str) -> str:
    return datetime.strptime(month, "%Y-%m").strftime("%B %Y")


def _how_many(n: int) -> str:
    return "fewer than 5" if 0 < n < SMALL_CELL_LIMIT else str(n)


def _summary(
    numbers: _Numbers,
    warnings_issued: Counter[WarningKey],
    data_needed_issued: Counter[SettingKey],
    labels: Labels,
) -> list[str]:
    """A few sentences on the latest month of the period, every figure under the small-cell rule."""
    months = sorted({k.month for k in numbers.cards})
    if not months:
        return ["No cards were issued in this period."]
    month = months[-1]
    name = _month_name(month)
    cards = sum(n for k, n in numbers.cards.items() if k.month == month)
    warned = sum(n for k, n in warnings_issued.items() if k.month == month)
    sentences = [f"In {name}, {_how_many(cards)} cards were issued, {_how_many(warned)} of them warnings."]
    reports = Counter({k: n for k, n in numbers.warning_reports.items() if k.month == month})
    by_pair = _sum(reports, lambda k: (k.setting, k.regimen, k.outcome))
    in_month = Counter({k: n for k, n in warnings_issued.items() if k.month == month})
    pairs = _sum(in_month, lambda k: (k.setting, k.regimen))
    if pairs:
        (setting, regimen), _ = max(pairs.items(), key=lambda item: (item[1], item[0]))
        accepted, overridden = by_pair[(setting, regimen, "accepted")], by_pair[(setting, regimen, "overridden")]
        rate = percent(accepted, accepted + overridden)
        about = f"warnings about {labels.of('regimen', regimen)} {labels.of('setting', setting)}".rstrip()
        if rate is None:
            sentences.append(f"For the most frequent, {about}, too few were answered to report a rate.")
        else:
            sentences.append(
                f"{rate:g}% of {about} were accepted "
                f"({_how_many(accepted)} of {_how_many(accepted + overridden)} answered)."
            )
        month_outcomes = _sum(reports, lambda k: k.outcome)
        all_accepted = month_outcomes["accepted"]
        all_rate = percent(all_accepted, all_accepted + month_outcomes["overridden"])
        if all_rate is not None:
            sentences.append(f"Across all warnings, {all_rate:g}% of answered warnings were accepted.")
    reasons = Counter({k.reason: n for k, n in numbers.overrides.items() if k.month == month})
    overrides = sum(reasons.values())
    if overrides:
        reason, n = max(reasons.items(), key=lambda item: (item[1], item[0]))
        if n >= SMALL_CELL_LIMIT:
            sentences.append(
                f"The main override reason was {labels.of('reason', reason).lower()} "
                f"({_how_many(n)} of {_how_many(overrides)} overrides)."
            )
        else:
            sentences.append(f"There were {_how_many(overrides)} overrides, too few to name a main reason.")
    needed = sum(n for k, n in data_needed_issued.items() if k.month == month)
    if needed:
        ordered = sum(n for k, n in numbers.data_needed.items() if k.month == month and k.measure == "accepted_order")
        rate = percent(ordered, needed)
        figure = f"{rate:g}% ({_how_many(ordered)} of {_how_many(needed)})" if rate is not None else _how_many(ordered)
        sentences.append(f"Data-needed cards led to an accepted AFP or lab order: {figure}.")
    unmatched = sum(numbers.unmatched.values())
    if unmatched:
        sentences.append(
            f"In the whole period, {_how_many(unmatched)} feedback reports named cards the store did not record."
        )
    return sentences
