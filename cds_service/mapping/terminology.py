"""Identify the systemic agents of clinical-sequencing.md section 5 in a medication concept.

Matches RxNorm codes, generic and brand names in ``coding.code``, ``coding.display`` and ``text``,
case-insensitively and on word boundaries (``nivolumab`` is not found in ``xnivolumabx``). A product
with an agent outside the list (nivolumab + relatlimab) is reported with ``other`` agents so that it is
never mistaken for the listed agent alone. The vocabulary lives in ``knowledge/terminology.yaml``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from cds_service.knowledge import MedicationHistory, Terminology
from cds_service.memo import Lru

RXNORM_SYSTEMS = frozenset({"http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"})


@dataclass(frozen=True, slots=True)
class AgentMatch:
    agents: frozenset[str]  # agents of the HCC list
    other: frozenset[str]  # recognised agents outside it

    @property
    def is_hcc_agent_product(self) -> bool:
        """The product consists only of listed agents (and names at least one)."""
        return bool(self.agents) and not self.other


NO_MATCH = AgentMatch(frozenset(), frozenset())
TEXT_MEMO_SIZE = 8192
# Whether a medication concept may name an agent, by its exact JSON (a formulary's concepts recur).
SCREEN_CACHE_SIZE = 4096
CONCEPT_MEMO_SIZE = 4096
INVESTIGATIONAL = "investigational"  # the agent id of a clinical-trial drug recorded as text (policy 6.5)


class AgentMatcher:
    """Compiled once from the terminology; ``match`` is cheap and never raises."""

    def __init__(self, terminology: Terminology, history: MedicationHistory | None = None) -> None:
        """``history`` adds the anticancer agents outside the review and the clinical-trial text (policy 6.5):
        they are found as ``other`` agents, so a medication naming one is never mistaken for no medication."""
        self._hcc = frozenset(terminology.agents)
        self._by_code: dict[str, frozenset[str]] = {}
        self._by_name: dict[str, frozenset[str]] = {}
        named: dict[str, tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]] = {
            agent_id: (
                agent.rxnorm,
                (*agent.names, *agent.brands, agent_id),
                frozenset({agent_id, *agent.also_contains}),
            )
            for agent_id, agent in {**terminology.agents, **terminology.other_agents}.items()
        }
        if history is not None:
            for agent_id, other in history.non_review_agents.items():
                named[agent_id] = (other.rxnorm, (*other.names, *other.brands, agent_id), frozenset({agent_id}))
            named[INVESTIGATIONAL] = ((), history.investigational_text, frozenset({INVESTIGATIONAL}))
        for codes, names, contains in named.values():
            for code in codes:
                self._by_code[code] = contains
            for name in names:
                self._by_name[name.lower()] = self._by_name.get(name.lower(), frozenset()) | contains
        self._texts: dict[str, frozenset[str]] = {}
        self._screened = functools.lru_cache(maxsize=SCREEN_CACHE_SIZE)(self._screen_json)
        alternatives = sorted(self._by_name, key=len, reverse=True)
        self._pattern = re.compile(
            r"(?<![\w])(" + "|".join(re.escape(a) for a in alternatives) + r")(?![\w])", re.IGNORECASE
        )

    def _split(self, agents: Iterable[str]) -> AgentMatch:
        found = frozenset(agents)
        return AgentMatch(found & self._hcc, found - self._hcc) if found else NO_MATCH

    def match_text(self, text: str) -> frozenset[str]:
        """Agents named in a text; drug names repeat across charts, so results are remembered (bounded)."""
        known = self._texts.get(text)
        if known is not None:
            return known
        found: set[str] = set()
        for hit in self._pattern.finditer(text):
            found |= self._by_name[hit.group(1).lower()]
        result = frozenset(found)
        if len(self._texts) >= TEXT_MEMO_SIZE:
            self._texts.clear()
        self._texts[text] = result
        return result

    def names_any_agent(self, concept: dict[str, Any]) -> bool:
        """Whether a raw CodeableConcept may name an agent: ``match_concept`` finds one, or a code is listed.

        The cheap pre-check for long medication lists: only dictionary lookups per string (the text
        matches are remembered); it never says False where ``match_concept`` would find an agent.
        """
        texts = self._texts
        text = concept.get("text")
        if type(text) is str and (texts.get(text) if text in texts else self.match_text(text)):
            return True
        codings = concept.get("coding")
        for coding in codings if type(codings) is list else ():
            if type(coding) is not dict:
                continue
            code, display = coding.get("code"), coding.get("display")
            if type(code) is str and (
                code in self._by_code or (texts.get(code) if code in texts else self.match_text(code))
            ):
                return True
            if type(display) is str and (texts.get(display) if display in texts else self.match_text(display)):
                return True
        return False

    def may_name_agent(self, concept: dict[str, Any]) -> bool:
        """``names_any_agent``, remembered by the concept's exact JSON (bounded, least recently used out).

        A chart lists the same few concepts again and again, as do the charts of one formulary. A concept
        that is not plain JSON (a subclass of a JSON type, a non-string key) is read directly.
        """
        try:
            key = orjson.dumps(concept, option=orjson.OPT_PASSTHROUGH_SUBCLASS)
        except (TypeError, orjson.JSONEncodeError):
            return self.names_any_agent(concept)
        return self._screened(key)

    def _screen_json(self, key: bytes) -> bool:
        return self.names_any_agent(orjson.loads(key))

    def match_concept(self, concept: Any) -> AgentMatch:
        """Agents named by a CodeableConcept (raw dict or R4B model): codes, displays and text."""
        if concept is None:
            return NO_MATCH
        found: set[str] = set()
        codings = field_of(concept, "coding")
        for coding in codings if isinstance(codings, list) else []:
            code, system, display = (
                field_of(coding, "code"),
                field_of(coding, "system"),
                field_of(coding, "display"),
            )
            if isinstance(code, str):
                if isinstance(system, str) and system in RXNORM_SYSTEMS and code in self._by_code:
                    found |= self._by_code[code]
                found |= self.match_text(code)
            if isinstance(display, str):
                found |= self.match_text(display)
        text = field_of(concept, "text")
        if isinstance(text, str):
            found |= self.match_text(text)
        return self._split(found)


def field_of(element: Any, name: str) -> Any:
    """A field of a raw JSON object or of a parsed FHIR model (None when absent)."""
    kind = type(element)
    if kind is dict:  # raw JSON, the common case
        return element.get(name)
    mapping = _IS_MAPPING.get(kind)
    if mapping is None:
        mapping = isinstance(element, Mapping)
        if len(_IS_MAPPING) < _TYPES_REMEMBERED:
            _IS_MAPPING[kind] = mapping
    return element.get(name) if mapping else getattr(element, name, None)


# Whether a type is a Mapping, by type: the ABC check is slow and the types are few (R4B models, views).
_IS_MAPPING: dict[type, bool] = {}
_TYPES_REMEMBERED = 1024


class ProductMatcher:
    """Products of a reviewed agent that are not its HCC product (knowledge ``products``; policy 6.5): by brand,
    by RxNorm code, or by a dose-form word in a text that names the agent ("cabozantinib 20 MG capsules")."""

    def __init__(self, history: MedicationHistory) -> None:
        self._products = [
            (
                product_id,
                product.agent,
                frozenset(product.rxnorm),
                _any_word(product.brands),
                _any_word(product.text),
            )
            for product_id, product in history.products.items()
        ]
        # The products named, by the concept's texts and codes and the agents: a formulary's drafts recur.
        self._found: Lru[tuple[tuple[str, ...], frozenset[str], frozenset[str]], frozenset[str]] = Lru(
            CONCEPT_MEMO_SIZE
        )

    def match(self, concept: Any, agents: frozenset[str]) -> frozenset[str]:
        """The products a medication concept names, among those of ``agents``."""
        if concept is None or not self._products:
            return frozenset()
        texts: list[str] = []
        codes: set[str] = set()
        codings = field_of(concept, "coding")
        for coding in codings if isinstance(codings, list) else []:
            code, display = field_of(coding, "code"), field_of(coding, "display")
            if isinstance(code, str):
                codes.add(code)
            if isinstance(display, str):
                texts.append(display)
        text = field_of(concept, "text")
        if isinstance(text, str):
            texts.append(text)
        key = (tuple(texts), frozenset(codes), agents)
        known = self._found.get(key)
        if known is not None:
            return known
        found = set()
        for product_id, agent, rxnorm, brands, words in self._products:
            if agent not in agents:
                continue
            if codes & rxnorm or any(p is not None and p.search(t) for t in texts for p in (brands, words)):
                found.add(product_id)
        result = frozenset(found)
        self._found.put(key, result)
        return result


def _any_word(words: Iterable[str]) -> re.Pattern[str] | None:
    listed = [w for w in words if w]
    if not listed:
        return None
    return re.compile(r"(?<![\w])(" + "|".join(re.escape(w) for w in listed) + r")(?![\w])", re.IGNORECASE)
