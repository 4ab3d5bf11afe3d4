"""One pipeline for every hook: relevance from the draft orders, data, mapping, sequencing, cards."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cds_service.cards.builder import CardBody, CardContext, IssuedCard, build_cards, card_bodies
from cds_service.cards.models import CdsResponse
from cds_service.cards.override_reasons import override_reason_system
from cds_service.config import Settings
from cds_service.data.prefetch import FetchRequest, FhirFetcher, resolve_data
from cds_service.errors import InvalidRequest
from cds_service.facts import DataQualityNote, DraftOrder, PatientFacts
from cds_service.hooks.models import HookRequest
from cds_service.hooks.services import ServiceDefinition
from cds_service.knowledge import Knowledge
from cds_service.mapping.patient import DraftOrders, PatientMapper
from cds_service.memo import Lru
from cds_service.sequencing.engine import Recommendation, recommend
from cds_service.sequencing.gates import check_gate_registry


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """The response, the cards issued with what they stand for, and a short PHI-free word for logs."""

    response: CdsResponse
    outcome: str
    issued: tuple[IssuedCard, ...] = ()
    fetched: tuple[str, ...] = ()  # prefetch keys obtained from the FHIR server
    setting: str | None = None
    selected: tuple[str, ...] = ()
    knowledge_version: str | None = None
    silent: bool = False  # a silent pilot: ``issued`` were computed and are recorded, ``response`` has no card
    recommendation: Recommendation | None = None  # None when the call was answered before any patient data


def without_recommended(issued: IssuedCard) -> IssuedCard:
    """The card with no suggestion marked ``isRecommended`` (pilot switch ``recommended_suggestions: never``)."""
    suggestions = issued.card.suggestions
    if not suggestions or not any(s.isRecommended for s in suggestions):
        return issued
    plain = [s.model_copy(update={"isRecommended": None}) for s in suggestions]
    return dataclasses.replace(issued, card=issued.card.model_copy(update={"suggestions": plain}))


class RecommendationMemo:
    """Recommendations by (facts object, selected and other draft orders, day); least recently used out.

    ``recommend`` is pure. On the repeated calls of an ordering session the facts come back from the facts
    cache as the same object, and with the same drafts on the same day the answer is the same. Each entry
    holds its facts, so an ``id`` in a key is never reused while the entry lives. ``capacity`` 0: off.
    """

    def __init__(self, capacity: int) -> None:
        self._entries: Lru[tuple[object, ...], tuple[PatientFacts, Recommendation]] = Lru(capacity)

    def get_or_compute(
        self,
        facts: PatientFacts,
        drafts: tuple[tuple[DraftOrder, ...], tuple[DraftOrder, ...], bool],
        today: date,
        compute: Callable[[], Recommendation],
    ) -> Recommendation:
        if not self._entries.capacity:
            return compute()
        key = (id(facts), drafts, today)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is facts:
            return entry[1]
        recommendation = compute()
        self._entries.put(key, (facts, recommendation))
        return recommendation


class CardBodyMemo:
    """What the cards of a recommendation say, by (recommendation object, hook); least recently used out.

    ``card_bodies`` depends only on the recommendation, the hook and the pipeline's knowledge and URLs, so a
    repeated call (the same recommendation from ``RecommendationMemo``) only stamps its own uuids and draft
    orders. Each entry holds its recommendation, so its ``id`` is never reused while the entry lives.
    """

    def __init__(self, capacity: int) -> None:
        self._entries: Lru[tuple[int, str], tuple[Recommendation, tuple[CardBody, ...]]] = Lru(capacity)

    def get_or_compute(
        self, rec: Recommendation, hook: str, compute: Callable[[], tuple[CardBody, ...]]
    ) -> tuple[CardBody, ...]:
        if not self._entries.capacity:
            return compute()
        key = (id(rec), hook)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is rec:
            return entry[1]
        bodies = compute()
        self._entries.put(key, (rec, bodies))
        return bodies


class HookPipeline:
    """Built once at start-up (knowledge, matchers, parameters); ``run`` is called per request."""

    def __init__(
        self,
        knowledge: Knowledge,
        settings: Settings,
        *,
        fetcher: FhirFetcher | None = None,
        clock: Callable[[], date] = utc_today,
    ) -> None:
        check_gate_registry(knowledge)
        self.knowledge = knowledge
        self.mapper = PatientMapper(knowledge, facts_cache_size=settings.facts_cache_size)
        self.recommendations = RecommendationMemo(settings.facts_cache_size)
        self.card_bodies = CardBodyMemo(settings.facts_cache_size)
        self.override_reason_system = override_reason_system(settings.public_base_url)
        self.public_base_url = settings.public_base_url
        self.fetcher = fetcher
        self.clock = clock

    def _draft_orders(self, service: ServiceDefinition, context: object) -> DraftOrders | None:
        if service.hook == "patient-view":
            return None
        selections = getattr(context, "selections", None) if service.hook == "order-select" else None
        return self.mapper.map_draft_orders(getattr(context, "draftOrders", None), selections)

    async def run(
        self, service: ServiceDefinition, request: HookRequest, *, client_servers: tuple[str, ...] = ()
    ) -> HookOutcome:
        """Answer one hook call; irrelevant orders are answered before any patient data is read.

        ``client_servers`` are the FHIR bases the authenticated client's registry entry allows.
        """
        if request.hook != service.hook:
            raise InvalidRequest(
                f"Service {service.id} answers the {service.hook} hook, not {request.hook}", expression=["hook"]
            )
        context = service.parse_context(request.context)
        drafts = self._draft_orders(service, context)
        if drafts is not None and not drafts.selects_hcc_agent:
            return HookOutcome(CdsResponse(cards=[]), "not-relevant")
        fetch_request = FetchRequest(
            fhir_server=request.fhirServer,
            access_token=request.fhirAuthorization.access_token if request.fhirAuthorization else None,
            context=request.context,
            client_servers=client_servers,
        )
        resolved = await resolve_data(service.prefetch, request.prefetch, fetch_request, self.fetcher)
        today = self.clock()
        facts = self.mapper.map_facts(
            resolved.values,
            context.patientId,
            conditions_available=resolved.available("conditions"),
            medications_available=resolved.available("medications"),
            today=today,
        )
        gaps = [
            DataQualityNote(f"prefetch {spec.key}", f"could not be obtained: {resolved.reasons[spec.key]}")
            for spec in resolved.unavailable()
        ]
        gaps += [DataQualityNote(f"prefetch {key}", note) for key, note in resolved.notes]
        notes = (*(drafts.notes if drafts else ()), *gaps)
        if notes:
            facts = dataclasses.replace(facts, notes=(*facts.notes, *notes))
        selected = drafts.hcc_agent_orders if drafts else ()
        others = drafts.others if drafts else ()
        selecting = service.hook == "order-select"
        recommendation = self.recommendations.get_or_compute(
            facts,
            (selected, others, selecting),
            today,
            lambda: recommend(
                facts,
                self.knowledge,
                selected_orders=selected,
                other_draft_orders=others,
                today=today,
                selecting=selecting,
            ),
        )
        card_context = CardContext(
            self.knowledge, context.patientId, request.hookInstance, self.override_reason_system, self.public_base_url
        )
        bodies = self.card_bodies.get_or_compute(
            recommendation, service.hook, lambda: card_bodies(recommendation, card_context, hook=service.hook)
        )
        issued = build_cards(recommendation, card_context, hook=service.hook, bodies=bodies)
        if not self.knowledge.pilot.recommends(service.hook):
            issued = [without_recommended(i) for i in issued]
        outcome = "not-applicable" if not recommendation.applicable else f"cards-{len(issued)}"
        silent = self.knowledge.pilot.mode_of(service.hook) == "silent"
        return HookOutcome(
            CdsResponse(cards=[] if silent else [i.card for i in issued]),
            f"silent-{outcome}" if silent and issued else outcome,
            silent=silent,
            fetched=resolved.fetched,
            issued=tuple(issued),
            setting=recommendation.setting.value if recommendation.setting else None,
            selected=tuple(s.regimen_id or "+".join(sorted(s.agents)) for s in recommendation.selected),
            knowledge_version=recommendation.knowledge_version,
            recommendation=recommendation,
        )
