"""Synthetic traffic for a scratch store: a month of hook calls and feedback, so the report can be tried.

The cards are copies of what the service really answered to the fixture requests (the caller runs them);
this module spreads them over the weekdays of one month with fresh card uuids and answers them with
plausible, seeded acceptance rates. Nothing here is patient data; never point it at a production store.
"""

from __future__ import annotations

import calendar
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from cds_service.store.migrate import upgrade
from cds_service.store.schema import feedback_table, issued_card_table

SYNTHETIC_NAMESPACE = uuid.UUID("0b7e2c55-3f0e-4c4e-8d0a-5d7f9a1c2e31")
# Share of overrides per coded reason (the override-reason CodeSystem's codes).
OVERRIDE_REASON_WEIGHTS = {
    "patient-preference": 34,
    "contraindication-to-alternatives": 24,
    "clinical-trial": 14,
    "information-missing": 18,
    "other": 10,
}
# (accepted, overridden) probabilities by indicator or kind; the rest get no feedback.
ANSWER_RATES = {"warning": (0.62, 0.26), "critical": (0.70, 0.22), "data-needed": (0.48, 0.08), "info": (0.0, 0.0)}


@dataclass(frozen=True, slots=True)
class CardTemplate:
    """One card as the service issued it, without its uuid."""

    service_id: str
    kind: str
    indicator: str
    setting: str | None
    selected: tuple[str, ...]
    suggestion_meanings: tuple[str, ...]
    knowledge_version: str | None
    gates: tuple[str, ...] | None = None  # the safety gates that fired (None: as if recorded before revision 0003)


@dataclass(frozen=True, slots=True)
class CallTemplate:
    """The cards of one hook call (a fixture request) and how often such calls come."""

    name: str
    cards: tuple[CardTemplate, ...]
    weight: float = 1.0


def weekdays(month: date) -> list[date]:
    days = calendar.monthrange(month.year, month.month)[1]
    return [d for d in (month.replace(day=i) for i in range(1, days + 1)) if d.weekday() < 5]


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(SYNTHETIC_NAMESPACE, ":".join(str(p) for p in parts)))


def synthetic_rows(
    calls: Sequence[CallTemplate],
    months: Sequence[date],
    *,
    seed: int,
    calls_per_weekday: tuple[int, int] = (30, 60),
    override_reason_system: str = "urn:cds-service:override-reason",
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(issued card row, its feedback rows) for every card of the weekday hook calls of ``months``, seeded."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic traffic, not security
    # Each kind of call has its own acceptance, around the base rate, as real sites differ by regimen.
    leaning = {call.name: rng.uniform(-0.15, 0.15) for call in calls}
    reasons, reason_weights = list(OVERRIDE_REASON_WEIGHTS), list(OVERRIDE_REASON_WEIGHTS.values())
    weights = [call.weight for call in calls]
    for day in (day for month in months for day in weekdays(month)):
        for number in range(rng.randint(*calls_per_weekday)):
            call = rng.choices(calls, weights)[0]
            hook_instance = _uuid(seed, day, number)
            issued_at = datetime(day.year, day.month, day.day, 7, 30, tzinfo=UTC) + timedelta(
                seconds=rng.randint(0, 11 * 3600)
            )
            for index, template in enumerate(call.cards):
                card_uuid = _uuid(hook_instance, index)
                suggestions = {_uuid(card_uuid, i): meaning for i, meaning in enumerate(template.suggestion_meanings)}
                row = {
                    "card_uuid": card_uuid,
                    "service_id": template.service_id,
                    "hook_instance": hook_instance,
                    "kind": template.kind,
                    "setting": template.setting,
                    "selected": json.dumps(list(template.selected)) if template.selected else None,
                    "suggestions": json.dumps(suggestions) if suggestions else None,
                    "knowledge_version": template.knowledge_version,
                    "issued_at": issued_at,
                    "indicator": template.indicator,
                    "gates": json.dumps(sorted(template.gates)) if template.gates is not None else None,
                }
                rates = ANSWER_RATES.get(template.kind) or ANSWER_RATES.get(template.indicator, (0.0, 0.0))
                accept = max(0.0, min(1.0, rates[0] + leaning[call.name]))
                draw = rng.random()
                answered_at = issued_at + timedelta(seconds=rng.randint(20, 900))
                feedback: dict[str, Any] = {
                    "service_id": template.service_id,
                    "card_uuid": card_uuid,
                    "outcome_timestamp": answered_at.isoformat().replace("+00:00", "Z"),
                    "received_at": answered_at,
                    "accepted_suggestions": None,
                    "override_reason_system": None,
                    "override_reason_code": None,
                    "override_comment": None,
                }
                if draw < accept and suggestions:  # accepting means taking a suggestion (CDS Hooks cds-fb-2)
                    chosen = [rng.choice(list(suggestions))]
                    feedback |= {"outcome": "accepted", "accepted_suggestions": json.dumps(chosen)}
                    yield row, [feedback]
                elif draw < accept + rates[1]:
                    # "contraindication-to-alternatives" is offered only on a card that suggests an alternative.
                    offered = [
                        weight if suggestions or code != "contraindication-to-alternatives" else 0
                        for code, weight in zip(reasons, reason_weights, strict=True)
                    ]
                    reason = rng.choices(reasons, offered)[0]
                    feedback |= {
                        "outcome": "overridden",
                        "override_reason_system": override_reason_system,
                        "override_reason_code": reason,
                    }
                    yield row, [feedback]
                else:
                    yield row, []


def migrate_scratch_store(engine: Engine) -> None:
    """Bring a scratch store's schema to the latest migration (creates the tables of a new database)."""
    upgrade(engine)


def store_is_empty(engine: Engine) -> bool:
    with engine.connect() as connection:
        cards = connection.execute(select(func.count()).select_from(issued_card_table)).scalar_one()
        feedback = connection.execute(select(func.count()).select_from(feedback_table)).scalar_one()
    return int(cards) == 0 and int(feedback) == 0


def write_rows(
    engine: Engine, rows: Iterator[tuple[dict[str, Any], list[dict[str, Any]]]], *, batch_size: int = 20_000
) -> tuple[int, int]:
    """Insert issued cards and feedback in batches, in one transaction; returns (cards, feedback)."""
    cards: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    totals = [0, 0]
    with engine.begin() as connection:

        def flush() -> None:
            if cards:
                connection.execute(issued_card_table.insert(), cards)
            if feedback:
                connection.execute(feedback_table.insert(), feedback)
            totals[0] += len(cards)
            totals[1] += len(feedback)
            cards.clear()
            feedback.clear()

        for card, answers in rows:
            cards.append(card)
            feedback.extend(answers)
            if len(cards) >= batch_size:
                flush()
        flush()
    return totals[0], totals[1]
