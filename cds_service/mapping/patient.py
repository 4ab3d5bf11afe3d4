"""FHIR data of one hook call → ``PatientFacts`` (the sequencing engine's input).

Mapping never raises on input: a resource that fails R4B validation, belongs to another patient or has
no usable date is left out with a data-quality note naming it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from cds_service.facts import DataQualityNote, DraftOrder, LiverFacts, PatientFacts
from cds_service.knowledge import Knowledge
from cds_service.mapping.conditions import ConditionMapper
from cds_service.mapping.current_medications import CurrentMedicationMapper
from cds_service.mapping.fhir import Parser, as_date, parse_concept
from cds_service.mapping.medications import StopReasonReader, build_lines, episodes_from
from cds_service.mapping.observations import (
    ObservationIndex,
    latest_afp,
    map_coded_child_pugh,
    map_ecog,
    map_liver_labs,
    map_pregnancy_tests,
)
from cds_service.mapping.resources import (
    JsonObject,
    collect_resources,
    contained_resource,
    resource_reference,
)
from cds_service.mapping.terminology import AgentMatch, AgentMatcher, ProductMatcher, field_of
from cds_service.memo import Lru

MEDICATION_ORDER_TYPES = frozenset({"MedicationRequest", "MedicationOrder"})


def split_code(value: str | None) -> tuple[str, str] | None:
    """``system|code`` → (system, code)."""
    if not value:
        return None
    system, _, code = value.rpartition("|")
    return (system, code) if system and code else None


@dataclass(frozen=True, slots=True)
class DraftOrders:
    selected: tuple[DraftOrder, ...]
    others: tuple[DraftOrder, ...]
    notes: tuple[DataQualityNote, ...] = ()

    @property
    def hcc_agent_orders(self) -> tuple[DraftOrder, ...]:
        """The selected orders that are an HCC systemic agent alone (not a product with other drugs)."""
        return tuple(order for order in self.selected if order.agents and not order.contains_other_agents)

    @property
    def selects_hcc_agent(self) -> bool:
        return bool(self.hcc_agent_orders)


class FactsCache(Lru[bytes, PatientFacts]):
    """Patient facts by the content of the chart they were mapped from; least recently used out.

    An ordering session calls the hooks again and again for one patient with the same prefetch (every
    order picked, then signing): the chart is mapped once. The key is a SHA-256 of the patient id, the
    data-availability flags and every prefetch value, so any change to the chart maps it again. Facts are
    immutable; held in memory only, never persisted or logged. ``capacity`` 0 turns it off.
    """

    def key(self, values: Mapping[str, Any], patient_id: str, flags: tuple[object, ...]) -> bytes | None:
        """The chart's digest, or None (not cached) when the cache is off or a value is not JSON."""
        if not self.capacity:
            return None
        try:
            content = orjson.dumps([patient_id, flags, values])
        except (TypeError, orjson.JSONEncodeError):
            return None
        return hashlib.sha256(content).digest()


def _birth_date(patients: list[JsonObject]) -> date | None:
    """The patient's birth date (policy 6.5: age under 18 is outside the trials' populations), or None."""
    for patient in patients:
        found = as_date(patient.get("birthDate"))
        if found is not None:
            return found
    return None


class PatientMapper:
    """Built once from the knowledge base; ``map_facts`` and ``map_draft_orders`` run per request."""

    def __init__(self, knowledge: Knowledge, *, facts_cache_size: int = 0) -> None:
        self.knowledge = knowledge
        self.params = knowledge.parameters
        self.agents = AgentMatcher(knowledge.terminology, knowledge.medication_history)
        self.products = ProductMatcher(knowledge.medication_history)
        self.conditions = ConditionMapper(knowledge.vocabulary, self.params.extra_codes)
        self.stop_reasons = StopReasonReader(knowledge.medication_history.stop_reasons, self.conditions.negation)
        self.combinations = tuple(knowledge.regimen_by_agents)
        self.current_medications = CurrentMedicationMapper(knowledge.vocabulary, self.conditions.immune_toxicity)
        self.child_pugh_code = split_code(self.params.child_pugh_observation_code)
        self.facts_cache = FactsCache(facts_cache_size)

    def map_facts(
        self,
        values: Mapping[str, Any],
        patient_id: str,
        *,
        conditions_available: bool = True,
        medications_available: bool = True,
        today: date | None = None,
    ) -> PatientFacts:
        """Map every prefetch value (Bundle, resource, null) of one patient to facts with provenance.

        ``today`` (default: the UTC date) decides which line is current (policy 6.5). A chart mapped before
        (same patient, same values, same day) is answered from ``FactsCache``.
        """
        today = today or datetime.now(UTC).date()
        flags = (conditions_available, medications_available, today.isoformat())
        key = self.facts_cache.key(values, patient_id, flags)
        cached = self.facts_cache.get(key) if key is not None else None
        if cached is not None:
            return cached
        facts = self._map_facts(values, patient_id, conditions_available, medications_available, today)
        if key is not None:
            self.facts_cache.put(key, facts)
        return facts

    def _map_facts(
        self,
        values: Mapping[str, Any],
        patient_id: str,
        conditions_available: bool,
        medications_available: bool,
        today: date,
    ) -> PatientFacts:
        pool = collect_resources(values, patient_id)
        notes = pool.notes
        parser = Parser(notes)
        vocabulary = self.knowledge.vocabulary
        condition_facts = self.conditions.map(
            pool.of_type("Condition"), data_available=conditions_available, parser=parser
        )
        episodes = episodes_from(pool, self.agents, parser, self.conditions.negation, self.stop_reasons)
        lines, current_line = build_lines(
            episodes,
            window_days=self.params.line_grouping_days,
            today=today,
            current_days=self.params.current_line_days,
            combinations=self.combinations,
        )
        observations = ObservationIndex(pool.by_type.get("Observation", []), pool.owned, pool.patient_aliases)
        factor = self.params.afp_iu_per_ml_to_ng_per_ml
        afp = latest_afp(observations, vocabulary, factor, parser)
        bilirubin, albumin, inr = map_liver_labs(observations, vocabulary, parser)
        liver = LiverFacts(
            bilirubin_mg_per_dl=bilirubin,
            albumin_g_per_dl=albumin,
            inr=inr,
            ascites=condition_facts.ascites,
            encephalopathy=condition_facts.encephalopathy,
            coded=map_coded_child_pugh(observations, self.child_pugh_code, parser) if self.child_pugh_code else None,
            conditions_recorded=conditions_available,
        )
        current_medications, immune_toxicities = self.current_medications.scan(pool)
        ecog = map_ecog(observations, vocabulary, parser)
        pregnancy_tests = map_pregnancy_tests(observations, vocabulary, parser)
        return PatientFacts(
            hcc=condition_facts.hcc,
            lines=lines,
            current_line=current_line,
            afp=afp,
            liver=liver,
            ecog=ecog,
            immunotherapy_cautions=(*condition_facts.cautions, *immune_toxicities),
            notes=tuple(dict.fromkeys(notes)),  # after every mapper that can add one
            medication_history_known=medications_available,
            current_medications=current_medications,
            populations=(*condition_facts.populations, *pregnancy_tests),
            birth_date=_birth_date(pool.of_type("Patient")),
        )

    def order_agents(self, order: JsonObject) -> AgentMatch:
        """Agents of one draft medication order (R4 MedicationRequest or DSTU2 MedicationOrder), leniently.

        Draft orders are not validated as whole resources: the sandbox sends slightly invalid R4
        (a single ``category`` object, no ``intent``); only the medication concept is parsed.
        """
        return self.agents.match_concept(self._order_concept(order))

    def _order_concept(self, order: JsonObject) -> Any:
        concept: Any = parse_concept(order.get("medicationCodeableConcept"))
        reference = order.get("medicationReference")
        if concept is None and isinstance(reference, dict):
            ref = reference.get("reference")
            if isinstance(ref, str) and ref.startswith("#"):
                contained = contained_resource(order, ref)
                concept = parse_concept(contained.get("code")) if contained else None
            if concept is None and isinstance(reference.get("display"), str):
                concept = {"text": reference["display"]}
        return concept

    def map_draft_orders(self, draft_orders: Any, selections: list[str] | None) -> DraftOrders:
        """Split ``context.draftOrders`` into the selected medication orders and the other drafts.

        ``selections=None`` (order-sign) means every draft is under review.
        """
        notes: list[DataQualityNote] = []
        entries = draft_orders.get("entry") if isinstance(draft_orders, dict) else None
        by_reference: dict[str, JsonObject] = {}
        for entry in entries if isinstance(entries, list) else []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
                by_reference[resource_reference(resource)] = resource
        wanted = list(by_reference) if selections is None else selections
        for missing in (s for s in wanted if s not in by_reference):
            notes.append(DataQualityNote(missing, "selection not found in draftOrders; skipped"))
        selected: list[DraftOrder] = []
        others: list[DraftOrder] = []
        for reference, resource in by_reference.items():
            if resource["resourceType"] not in MEDICATION_ORDER_TYPES:
                continue
            order_concept = self._order_concept(resource)
            match = self.agents.match_concept(order_concept)
            concept = resource.get("medicationCodeableConcept")
            text = field_of(concept, "text") if isinstance(concept, dict) else None
            order = DraftOrder(
                reference=reference,
                agents=match.agents,
                description=text if isinstance(text, str) else ", ".join(sorted(match.agents)) or "medication",
                contains_other_agents=bool(match.other),
                products=self.products.match(order_concept, match.agents),
            )
            (selected if reference in wanted else others).append(order)
        return DraftOrders(tuple(selected), tuple(others), tuple(notes))
