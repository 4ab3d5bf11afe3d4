"""The independent reviewer's checks on a CDS Hooks answer, as the reviewer wrote them (wording-robust).

Text matching is case-insensitive: ``"word"`` is a substring, ``"a|b"`` any one of the alternatives,
``"re:PATTERN"`` a regular expression. ``text_contains`` reads card summaries and details;
``text_excludes`` also suggestion and link labels. ``nothing_preferred`` fails when a card calls a regimen
"preferred" (also "may be preferred") unless the word is negated just before it.
"""

from __future__ import annotations

import re
from typing import Any

RANK = {"none": 0, "info": 1, "warning": 2, "critical": 3}
_NEGATED_BEFORE = re.compile(r"(\bnot\b|\bno\b|\bnothing\b|\bnever\b|\bwithout\b|\bnone\b)[^.;:\n]{0,30}$", re.I)


def _matches(pattern: str, text: str) -> bool:
    if pattern.startswith("re:"):
        return re.search(pattern[3:], text, re.I) is not None
    return any(alt.strip().lower() in text for alt in pattern.split("|") if alt.strip())


def _card_text(card: dict[str, Any], *, with_labels: bool = False) -> str:
    parts = [card.get("summary") or "", card.get("detail") or ""]
    if with_labels:
        parts += [s.get("label") or "" for s in card.get("suggestions") or []]
        parts += [link.get("label") or "" for link in card.get("links") or []]
    return "\n".join(parts)


def _calls_preferred(text: str) -> str | None:
    for match in re.finditer(r"\bpreferred\b", text, re.I):
        if _NEGATED_BEFORE.search(text[max(0, match.start() - 40) : match.start()]):
            continue
        return text[max(0, match.start() - 60) : match.end() + 20].replace("\n", " ")
    return None


def _changes_a_medication_order(action: dict[str, Any]) -> bool:
    if (action.get("type") or "").lower() not in ("create", "delete"):
        return False
    if (action.get("resource") or {}).get("resourceType") == "MedicationRequest":
        return True
    ids = action.get("resourceId")
    return any(
        isinstance(i, str) and i.startswith("MedicationRequest") for i in (ids if isinstance(ids, list) else [ids])
    )


def check_failures(checks: dict[str, Any], answer: dict[str, Any]) -> list[str]:
    """Every check of the reviewer's that the answer does not meet, each as a short sentence."""
    cards: list[dict[str, Any]] = answer.get("cards") or []
    failures: list[str] = []
    loudest = max((RANK.get((c.get("indicator") or "").lower(), 0) for c in cards), default=0)
    loudest_name = next(name for name, rank in RANK.items() if rank == loudest)
    if "max_indicator" in checks:
        limit = RANK[str(checks["max_indicator"]).lower()]
        if cards and limit == 0:
            failures.append(f"no card allowed, got {len(cards)} (loudest {loudest_name})")
        elif loudest > limit:
            failures.append(f"loudest card {loudest_name}, at most {checks['max_indicator']} allowed")
    if "min_indicator" in checks and loudest < RANK[str(checks["min_indicator"]).lower()]:
        failures.append(f"no card at least {checks['min_indicator']} (loudest {loudest_name if cards else 'none'})")
    body = "\n".join(_card_text(c) for c in cards).lower()
    failures += [f"missing text {w!r}" for w in checks.get("text_contains") or [] if not _matches(w, body)]
    everything = "\n".join(_card_text(c, with_labels=True) for c in cards).lower()
    failures += [f"forbidden text {w!r}" for w in checks.get("text_excludes") or [] if _matches(w, everything)]
    suggestions = [s for c in cards for s in c.get("suggestions") or []]
    if checks.get("no_recommended_suggestion"):
        failures += [f"recommended suggestion {s.get('label')!r}" for s in suggestions if s.get("isRecommended")][:1]
    if checks.get("no_replacement"):
        replacing = [s for s in suggestions if any(_changes_a_medication_order(a) for a in s.get("actions") or [])]
        failures += [f"replacement suggestion {s.get('label')!r}" for s in replacing][:1]
    if checks.get("nothing_preferred"):
        hits = [hit for c in cards if (hit := _calls_preferred(_card_text(c, with_labels=True)))]
        failures += [f"calls a regimen preferred: ...{hit}..." for hit in hits][:1]
    return failures
