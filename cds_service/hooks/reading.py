"""The service's reading of one patient's chart, for the timeline app: the same mapping, rules and card words.

The SMART app fetches the chart with its own token and posts the resources here; ``ChartReader.read`` maps
them with the hooks' ``PatientMapper`` (its facts cache off: nothing is kept), runs ``recommend`` and builds
the recommendation card with the cards' own code, and adds the course the card summarises (every line,
every AFP and liver-lab result, the Child-Pugh class at each date). The result is plain JSON; nothing is
stored or logged.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from cds_service.cards.common import CardContext
from cds_service.cards.issued import fired_gates
from cds_service.cards.recommendation import option_rows, recommendation_card
from cds_service.facts import AfpResult, LabValue, LiverFacts, PatientFacts, Provenance, StopReason, TherapyLine
from cds_service.knowledge import Knowledge
from cds_service.mapping.history import LiverLabReading, observation_history
from cds_service.mapping.patient import PatientMapper
from cds_service.sequencing.child_pugh import ChildPughAssessment, assess_child_pugh
from cds_service.sequencing.engine import Recommendation, recommend
from cds_service.sequencing.setting import regimen_label
from cds_service.sequencing.wording import STOP_TEXT, afp_value_text, agents_text, number_text

JsonDict = dict[str, Any]
CHART_KEY = "chart"
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
LIVER_LABS = ("bilirubin", "albumin", "INR")


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _source(source: Provenance, description: str | None = None) -> JsonDict:
    found: JsonDict = {"reference": source.reference, "date": _day(source.date)}
    if description:
        found["description"] = description
    return found


def _text_attribute(item: object, *names: str) -> str | None:
    """An optional text attribute some versions of the facts carry (read tolerantly: absent is None)."""
    for name in names:
        value: object = getattr(item, name, None)
        if isinstance(value, str) and value:
            return str(value)  # a StrEnum as its plain value
    return None


def review_regimens(knowledge: Knowledge) -> tuple[frozenset[str], frozenset[str]]:
    """The regimens the review places in some setting, and those placed only from later evidence (rules.yaml)."""
    options = [o for s in knowledge.sequencing.settings.values() for o in s.options]
    reviewed = frozenset(o.regimen for o in options if not o.after_review)
    return reviewed, frozenset(o.regimen for o in options if o.after_review) - reviewed


def _line(line: TherapyLine, knowledge: Knowledge) -> JsonDict:
    """One line of therapy as the rules read it: agents, dates, state, how it ended, its sources, coverage.

    Read tolerantly: facts that give a line its ``state`` (current/ended), ``state_basis``, ``stop_text`` and
    ``unidentified`` medications are shown with them; without them a line with no end is "current or end not
    recorded"."""
    regimen_id = knowledge.regimen_by_agents.get(line.agents)
    reviewed, later = review_regimens(knowledge)
    unidentified = [str(name) for name in getattr(line, "unidentified", ()) or ()]
    if unidentified:
        coverage = f"not covered by the review ({', '.join(unidentified)})"
    elif regimen_id in reviewed:
        coverage = "covered by the review"
    elif regimen_id in later:
        coverage = "later evidence, not the review"
    elif line.agents:
        coverage = "not covered by the review"
    else:
        coverage = "regimen not identified: not covered by the review"
    recorded_state = _text_attribute(line, "state")
    ended = recorded_state == "ended" if recorded_state else line.end is not None
    state = recorded_state or ("ended" if ended else "current or end not recorded")
    stop_text = _text_attribute(line, "stop_text") or next(
        (t for e in line.episodes if (t := _text_attribute(e, "stop_text"))), None
    )
    dates = [d for e in line.episodes for d in (e.start, e.end, e.source.date) if d is not None]
    label = regimen_label(line.agents, knowledge) if line.agents or not unidentified else " + ".join(unidentified)
    return {
        "number": line.number,
        "label": label,
        "agents": agents_text(line.agents) or ", ".join(unidentified) or "not identified",
        "start": _day(line.start),
        "end": _day(line.end),
        "lastDate": _day(line.end or max(dates, default=None)),
        "state": state,
        "current": not ended,
        "stateBasis": _text_attribute(line, "state_basis"),
        "stopReason": str(line.stop_reason),
        "howEnded": STOP_TEXT.get(line.stop_reason, str(line.stop_reason)) if ended else None,
        "stopText": stop_text,
        "covered": regimen_id in reviewed and not unidentified,
        "coverage": coverage,
        "sources": [_source(e.source, e.description) for e in line.episodes],
    }


def _afp(result: AfpResult, cutoff: Any, used: AfpResult | None) -> JsonDict:
    value = result.value_ng_per_ml
    return {
        "reference": result.source.reference,
        "date": _day(result.effective),
        "valueNgPerMl": float(value) if value is not None else None,
        "text": afp_value_text(result),
        "asReported": result.as_reported,
        "unit": result.unit,
        "comparable": result.comparable,
        "converted": result.converted,
        "comparator": result.comparator,
        "note": result.note,
        "relation": str(result.relation_to(cutoff)),
        "used": used is not None and used.source.reference == result.source.reference,
    }


def _lab(lab: LabValue) -> JsonDict:
    return {
        "reference": lab.source.reference,
        "date": _day(lab.effective),
        "value": float(lab.value),
        "unit": lab.unit,
        "text": number_text(lab.value.quantize(Decimal("0.01"))),
        "asReported": lab.as_reported,
    }


def _child_pugh(assessment: ChildPughAssessment | None) -> JsonDict | None:
    if assessment is None:
        return None
    return {
        "class": assessment.class_text,
        "score": assessment.score_text,
        "coded": assessment.coded,
        "missing": assessment.unknown_text,
        "sources": [s.reference for s in assessment.sources],
    }


def _known_by(finding: Any, day: date) -> Any:
    """A recorded finding (ascites, encephalopathy, coded class) only once it was on record."""
    return finding if finding is not None and finding.source.date and finding.source.date <= day else None


def _liver_course(history: Iterable[LiverLabReading], facts: PatientFacts, knowledge: Knowledge) -> list[JsonDict]:
    """The labs at each date they were drawn, and the Child-Pugh class the rules would give on that date: the
    newest of each lab up to then, the ascites/encephalopathy record when it existed by then."""
    readings = list(history)
    dates = sorted({r.lab.effective for r in readings if r.lab.effective is not None})
    liver = facts.liver
    course = []
    for day in dates:
        latest: dict[str, LabValue] = {}
        for reading in readings:
            when = reading.lab.effective
            if when is not None and when <= day:
                latest[reading.name] = reading.lab
        as_of = LiverFacts(
            bilirubin_mg_per_dl=latest.get("bilirubin"),
            albumin_g_per_dl=latest.get("albumin"),
            inr=latest.get("INR"),
            ascites=_known_by(liver.ascites, day),
            encephalopathy=_known_by(liver.encephalopathy, day),
            coded=_known_by(liver.coded, day),
            conditions_recorded=liver.conditions_recorded,
        )
        drawn = {r.name: _lab(r.lab) for r in readings if r.lab.effective == day}
        course.append(
            {
                "date": day.isoformat(),
                **{name: drawn.get(name) for name in LIVER_LABS},
                "childPugh": _child_pugh(assess_child_pugh(as_of, knowledge.parameters, day)),
            }
        )
    return course


def _cautions(facts: PatientFacts, knowledge: Knowledge) -> list[JsonDict]:
    """The patient's cautions, each with its source entry and date (the findings they raise are in the advice):
    transplant, autoimmune disease, hepatitis B, a checkpoint inhibitor stopped for intolerance, ECOG."""
    found = [
        {
            "label": caution.kind.label[:1].upper() + caution.kind.label[1:],
            "text": caution.description,
            **_source(caution.source),
        }
        for caution in facts.immunotherapy_cautions
    ]
    for line in _all_lines(facts):
        if line.agents & knowledge.checkpoint_inhibitors and line.stop_reason is StopReason.INTOLERANCE:
            quoted = _text_attribute(line, "stop_text")
            text = f"Line {line.number}, {agents_text(line.agents)}, {STOP_TEXT[line.stop_reason]}"
            found.append(
                {
                    "label": "Prior immune toxicity (possible)",
                    "text": text + (f": {quoted}" if quoted else ""),
                    "reference": line.episodes[0].source.reference if line.episodes else "MedicationStatement",
                    "date": _day(line.end),
                }
            )
    if facts.ecog is not None:
        limit = knowledge.parameters.ecog_trial_maximum
        above = f" (above the trials' 0-{limit})" if facts.ecog.grade > limit else ""
        found.append({"label": "ECOG", "text": f"ECOG {facts.ecog.grade}{above}", **_source(facts.ecog.source)})
    return found


def _cells(row: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(row.strip())[1:-1]]


def _advice(rec: Recommendation, ctx: CardContext) -> JsonDict:
    """The advice in the cards' own words: the summary and detail of the recommendation card, the options
    table rows the card shows (same function), each trial's link, the gates that fired."""
    knowledge = ctx.knowledge
    if not rec.applicable:
        return {"applicable": False, "summary": rec.summary_reason, "options": [], "gates": [], "dataGaps": []}
    issued = recommendation_card(rec, ctx, hook="patient-view")
    rows = option_rows(rec.options, knowledge, rec.preferred_wordings[0])[2:]
    trials = knowledge.evidence.trials
    options = []
    for option, row in zip(rec.options, rows, strict=True):
        label, place, evidence, key_result, note = _cells(row)
        links = [
            {"trial": t, "url": trials[t].registry_url or trials[t].publication_url}
            for t in option.trials
            if trials[t].registry_url or trials[t].publication_url
        ]
        options.append(
            {
                "regimen": option.regimen_id,
                "label": label,
                "place": place,
                "evidence": evidence,
                "keyResult": key_result,
                "forThisPatient": note,
                "trials": links,
            }
        )
    findings = {f.gate_id: f for o in rec.options for f in o.findings}
    return {
        "applicable": True,
        "setting": rec.setting.value if rec.setting else None,
        "settingTitle": rec.setting_title,
        "summary": issued.card.summary,
        "indicator": issued.card.indicator,
        "options": options,
        "gates": [
            {"id": gate_id, "title": findings[gate_id].title, "message": findings[gate_id].message}
            for gate_id in fired_gates(findings.values())
        ],
        "dataGaps": [gap.description for gap in rec.data_gaps],
        "card": issued.card.model_dump(mode="json", exclude_none=True),
    }


def _all_lines(facts: PatientFacts) -> list[TherapyLine]:
    """The prior lines and, where the facts keep it apart, the line the patient is still on."""
    current = getattr(facts, "current_line", None)
    return [*facts.lines, *([current] if isinstance(current, TherapyLine) else [])]


class ChartReader:
    """Built once with the knowledge; ``read`` turns one patient's posted resources into the reading."""

    def __init__(self, knowledge: Knowledge, public_base_url: str, override_reason_system: str) -> None:
        self.knowledge = knowledge
        self.mapper = PatientMapper(knowledge, facts_cache_size=0)  # nothing about a patient is kept
        self.public_base_url = public_base_url
        self.override_reason_system = override_reason_system

    def read(
        self,
        patient_id: str,
        resources: list[Any],
        *,
        today: date,
        conditions_available: bool = True,
        medications_available: bool = True,
        instance: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> JsonDict:
        """The reading of the chart as JSON: lines, AFP course, liver course, cautions, the advice."""
        knowledge = self.knowledge
        values = {
            CHART_KEY: {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
        }
        facts = self.mapper.map_facts(
            values, patient_id, conditions_available=conditions_available, medications_available=medications_available
        )
        rec = recommend(facts, knowledge, today=today)
        history = observation_history(values, patient_id, knowledge)
        cutoff = knowledge.parameters.afp_cutoff_ng_per_ml
        ctx = CardContext(knowledge, patient_id, instance(), self.override_reason_system, self.public_base_url)
        child_pugh = rec.child_pugh or assess_child_pugh(facts.liver, knowledge.parameters, today)
        return {
            "patient": patient_id,
            "asOf": today.isoformat(),
            "knowledgeVersion": knowledge.version,
            "hcc": facts.hcc.status.value,
            "lines": [_line(line, knowledge) for line in _all_lines(facts)],
            "priorLines": len(facts.lines),
            "medicationHistoryKnown": facts.medication_history_known,
            "afp": {
                "cutoffNgPerMl": float(cutoff),
                "cutoffText": f"{number_text(cutoff)} ng/mL",
                "maxAgeDays": knowledge.parameters.afp_max_age_days,
                "used": facts.afp.source.reference if facts.afp else None,
                "results": [_afp(result, cutoff, facts.afp) for result in history.afp],
            },
            "liver": {
                "current": _child_pugh(child_pugh),
                "results": _liver_course(history.liver_labs, facts, knowledge),
            },
            "cautions": _cautions(facts, knowledge),
            "advice": _advice(rec, ctx),
            "notes": [{"reference": n.reference, "reason": n.reason} for n in facts.notes],
        }
