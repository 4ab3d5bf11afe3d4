"""Expected answer versus the service's cards, as sentences a clinician can read.

How each expectation is read from a CDS Hooks card (the card itself carries no "kind"):
- a card kind (recommendation, selected order, data needed) is satisfied by any one card meeting all its
  constraints; different kinds must be met by different cards;
- a suggested regimen is the set of agents of the MedicationRequests a suggestion creates; a replacement
  is any suggestion that creates a MedicationRequest or deletes a draft order;
- ``order_suggestions`` are LOINC codes of ServiceRequests the card's suggestions create;
- ``selected_place``: a line of the summary or detail names the selected regimen and the place;
  ``regimen_places`` likewise for any regimen;
- ``no_regimen_preferred``: no table cell reads "preferred" and the summary calls nothing preferred.
Every card of every scenario must also meet §6.1 (summary under 140 characters, no trailing ellipsis)
and §6.4 (the detail's last line: decision support, the 2021 review, the clinician decides).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from cds_service.knowledge import load_knowledge
from tests.clinical_scenarios.model import CardExpectation, Scenario

Card = dict[str, Any]
AGENTS = tuple(load_knowledge().terminology.agents)  # the HCC systemic agents the service recognises
KIND_WORDS = {
    "recommendation": "the recommendation card",
    "selected_order": "a card about the selected order",
    "data_needed": "a data-needed card",
    "every_card": "every card",
}
_NEGATED_PREFERRED = re.compile(
    r"\b(not|no option is|no regimen is|none is|nothing is|no option|never)\s+(the\s+)?preferred\b", re.IGNORECASE
)
_PLACE_PATTERNS = {
    "preferred": re.compile(r"(?<!not )(?<!may be )(?<!no option is )\bpreferred\b", re.IGNORECASE),
    "option": re.compile(r"\boption\b", re.IGNORECASE),
}


def regimen_key(text: str) -> frozenset[str]:
    """'nivolumab + ipilimumab' → {'ipilimumab', 'nivolumab'}."""
    return frozenset(part.strip().lower() for part in text.split("+"))


def _agents_in(concept: dict[str, Any]) -> set[str]:
    words = " ".join(
        [str(concept.get("text", ""))]
        + [f"{c.get('display', '')} {c.get('code', '')}" for c in concept.get("coding", [])]
    ).lower()
    return {agent for agent in AGENTS if agent in words}


def suggested_regimens(card: Card) -> list[frozenset[str]]:
    out = []
    for suggestion in card.get("suggestions", []):
        agents: set[str] = set()
        for action in suggestion.get("actions", []):
            resource = action.get("resource") or {}
            if action.get("type") == "create" and resource.get("resourceType") == "MedicationRequest":
                agents |= _agents_in(resource.get("medicationCodeableConcept", {}))
        if agents:
            out.append(frozenset(agents))
    return out


def is_replacement(suggestion: dict[str, Any]) -> bool:
    for action in suggestion.get("actions", []):
        resource = action.get("resource") or {}
        if action.get("type") == "delete" or resource.get("resourceType") == "MedicationRequest":
            return True
    return False


def ordered_loinc_codes(card: Card) -> set[str]:
    codes: set[str] = set()
    for suggestion in card.get("suggestions", []):
        for action in suggestion.get("actions", []):
            resource = action.get("resource") or {}
            if resource.get("resourceType") == "ServiceRequest":
                codes |= {c.get("code", "") for c in resource.get("code", {}).get("coding", [])}
    return codes


def calls_something_preferred(card: Card) -> bool:
    summary = _NEGATED_PREFERRED.sub("", card.get("summary", ""))
    if re.search(r"\bpreferred\b", summary, re.IGNORECASE):
        return True
    for line in card.get("detail", "").splitlines():
        if line.startswith("|"):
            cells = [c.strip().lower() for c in line.strip("|").split("|")]
            if any(re.match(r"^(may be )?preferred\b", c) for c in cells):
                return True
    return False


def _names_place(card: Card, regimen: frozenset[str], place: str) -> bool:
    pattern = _PLACE_PATTERNS.get(place, re.compile(re.escape(place), re.IGNORECASE))
    for line in [card.get("summary", ""), *card.get("detail", "").splitlines()]:
        low = line.lower()
        if all(agent in low for agent in regimen) and pattern.search(line):
            return True
    return False


def _quote(words: list[str]) -> str:
    return ", ".join(f'"{w}"' for w in words)


def card_problems(card: Card, expected: CardExpectation, scenario: Scenario) -> list[str]:
    """What is wrong with this card for this expectation (empty: it fits)."""
    problems: list[str] = []
    summary, detail = card.get("summary", ""), card.get("detail", "")
    if expected.indicator and card.get("indicator") != expected.indicator:
        problems.append(f"its indicator is {card.get('indicator')}, not {expected.indicator}")
    missing = [w for w in expected.summary_contains if w.lower() not in summary.lower()]
    if missing:
        problems.append(f"its summary does not say {_quote(missing)}")
    present = [w for w in expected.summary_excludes if w.lower() in summary.lower()]
    if present:
        problems.append(f"its summary says {_quote(present)}")
    missing = [w for w in expected.detail_contains if w.lower() not in detail.lower()]
    if missing:
        problems.append(f"its detail does not say {_quote(missing)}")
    present = [w for w in expected.detail_excludes if w.lower() in detail.lower()]
    if present:
        problems.append(f"its detail says {_quote(present)}")
    regimens = suggested_regimens(card)
    named = [" + ".join(sorted(r)) for r in regimens]
    if expected.may_suggest is not None:
        allowed = [regimen_key(r) for r in expected.may_suggest]
        extra = [n for r, n in zip(regimens, named, strict=True) if r not in allowed]
        if extra:
            problems.append(f"it suggests {_quote(extra)}, which is not among {_quote(expected.may_suggest)}")
    for forbidden in expected.must_not_suggest:
        key = regimen_key(forbidden)
        hits = [n for r, n in zip(regimens, named, strict=True) if key <= r]
        if hits:
            problems.append(f"it offers {_quote(hits)} as a suggestion although {forbidden} must not be offered")
    if expected.no_recommended_suggestion:
        recommended = [s.get("label", "") for s in card.get("suggestions", []) if s.get("isRecommended")]
        if recommended:
            problems.append(f"it marks {_quote(recommended)} as recommended")
    if expected.no_replacement:
        replacements = [s.get("label", "") for s in card.get("suggestions", []) if is_replacement(s)]
        if replacements:
            problems.append(f"it offers a one-click replacement: {_quote(replacements)}")
    if expected.no_regimen_preferred and calls_something_preferred(card):
        problems.append("it calls a regimen preferred")
    if expected.order_suggestions:
        offered = ordered_loinc_codes(card)
        missing = [code for code in expected.order_suggestions if code not in offered]
        if missing:
            problems.append(f"it offers no draft order for LOINC {_quote(missing)}")
    for regimen_text, place in expected.regimen_places.items():
        if not _names_place(card, regimen_key(regimen_text), place):
            problems.append(f'no line names {regimen_text} as "{place}"')
    if expected.selected_place and scenario.order:
        regimen = frozenset(scenario.order.selected)
        if not _names_place(card, regimen, expected.selected_place):
            problems.append(f'no line names {" + ".join(scenario.order.selected)} as "{expected.selected_place}"')
    return problems


def universal_problems(card: Card) -> list[str]:
    """§6.1 and §6.4, for every card."""
    problems: list[str] = []
    summary = card.get("summary", "")
    if len(summary) >= 140:
        problems.append(f"its summary has {len(summary)} characters (§6.1: under 140)")
    if summary.rstrip().endswith(("…", "...")):
        problems.append("its summary ends in an ellipsis that may hide the reason (§6.1)")
    lines = [line for line in card.get("detail", "").splitlines() if line.strip()]
    last = lines[-1].lower() if lines else ""
    if not ("decision support" in last and "2021" in last and "clinician decides" in last):
        problems.append(
            "its detail does not end with the line: decision support from the 2021 review and later evidence; "
            "the clinician decides (§6.4)"
        )
    return problems


def describe_card(card: Card) -> str:
    return f'[{str(card.get("indicator", "?")).upper()}] "{card.get("summary", "")}"'


def failure_message(scenario: Scenario, problems: list[str]) -> str:
    """One readable paragraph: the scenario, then every unmet expectation."""
    order = f" with {' + '.join(scenario.order.selected)}" if scenario.order else ""
    lead = f"{scenario.title} ({scenario.hook}{order}; {scenario.source}):"
    return "\n".join([lead, *(f"  - {p}" for p in problems)])


def failures(scenario: Scenario, cards: list[Card]) -> list[str]:
    """Every expectation the answer does not meet, each as a sentence."""
    expect = scenario.expect
    shown = "; ".join(describe_card(c) for c in cards) or "no card"
    out: list[str] = []
    if expect.no_cards:
        if cards:
            out.append(f"The service should stay silent, but it answered {shown}.")
        return out
    if expect.cards is not None and len(cards) != expect.cards:
        out.append(f"Expected {expect.cards} card(s), the service answered {len(cards)}: {shown}.")
    for indicator in expect.no_indicator:
        hits = [describe_card(c) for c in cards if c.get("indicator") == indicator]
        if hits:
            out.append(f"No {indicator} card is expected, but the service answered {'; '.join(hits)}.")
    for card in cards:
        for problem in universal_problems(card):
            out.append(f"Card {describe_card(card)}: {problem}.")
        if expect.every_card:
            for problem in card_problems(card, expect.every_card, scenario):
                out.append(f"Card {describe_card(card)}: {problem}.")
    kinds = [
        (name, exp)
        for name, exp in (
            ("selected_order", expect.selected_order),
            ("data_needed", expect.data_needed),
            ("recommendation", expect.recommendation),
        )
        if exp is not None
    ]
    out += _kind_failures(kinds, cards, scenario)
    return out


def _kind_failures(kinds: list[tuple[str, CardExpectation]], cards: list[Card], scenario: Scenario) -> list[str]:
    """Assign a distinct card to each expected kind; report the closest card for the kinds left over."""
    if not kinds:
        return []
    fits = [[not card_problems(card, exp, scenario) for card in cards] for _, exp in kinds]
    best: tuple[int, ...] | None = None
    best_met = -1
    slots = list(range(len(cards))) + [-1] * len(kinds)
    for assignment in itertools.permutations(slots, len(kinds)):
        used = [i for i in assignment if i >= 0]
        if len(used) != len(set(used)):
            continue
        if any(i >= 0 and not fits[k][i] for k, i in enumerate(assignment)):
            continue
        met = len(used)
        if met > best_met:
            best, best_met = assignment, met
    assert best is not None
    out = []
    for (name, exp), chosen in zip(kinds, best, strict=True):
        if chosen >= 0:
            continue
        wanted = _wanted(exp)
        if not cards:
            out.append(f"Expected {KIND_WORDS[name]}{wanted}, but the service answered no card.")
            continue
        closest = min(
            cards,
            key=lambda c: (exp.indicator not in (None, c.get("indicator")), len(card_problems(c, exp, scenario))),
        )
        why = "; ".join(card_problems(closest, exp, scenario))
        out.append(
            f"Expected {KIND_WORDS[name]}{wanted}, but no card fits; the closest, {describe_card(closest)}: {why}."
        )
    return out


def _wanted(exp: CardExpectation) -> str:
    parts = []
    if exp.indicator:
        parts.append(f"with indicator {exp.indicator}")
    if exp.summary_contains:
        parts.append(f"whose summary says {_quote(exp.summary_contains)}")
    return (" " + ", ".join(parts)) if parts else ""
