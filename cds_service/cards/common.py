"""What every card shares: identity, the per-request context, summaries, source, links, the closing line."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from cds_service.cards.links import capped_links, knowledge_page_url, timeline_app_url
from cds_service.cards.models import SUMMARY_MAX_CHARS, Link, Source
from cds_service.knowledge import Knowledge, Place, Severity
from cds_service.memo import Memo
from cds_service.sequencing.cautions import checkpoint_caution as checkpoint_caution
from cds_service.sequencing.engine import Recommendation
from cds_service.sequencing.options import OptionAssessment
from cds_service.sequencing.selected import SelectedAssessment
from cds_service.sequencing.wording import joined

Hook = Literal["order-select", "order-sign", "patient-view"]
CardKind = Literal["recommendation", "does-not-fit", "data-needed"]
CARD_NAMESPACE = uuid.UUID("6f1c1f55-33a4-4b8e-9a51-2d0f3c8e7a10")


@dataclass(frozen=True, slots=True)
class CardContext:
    """Per-request inputs of the card builders."""

    knowledge: Knowledge
    patient_id: str
    hook_instance: str
    override_reason_system: str
    public_base_url: str  # where the service's knowledge pages are (CDS_PUBLIC_BASE_URL)


_NAMESPACE_BYTES = CARD_NAMESPACE.bytes


def card_uuid(hook_instance: str, *parts: str) -> str:
    """Deterministic per hook call: a retried call gets the same uuids, feedback maps back to the card.

    ``uuid.uuid5(CARD_NAMESPACE, name)`` as text (RFC 4122: SHA-1 of namespace and name, version 5, variant
    bits), without building a ``UUID`` object."""
    name = _NAMESPACE_BYTES + ":".join((hook_instance, *parts)).encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def fit_summary(text: str, limit: int = SUMMARY_MAX_CHARS) -> str:
    """Cut a summary to CDS Hooks' limit (under 140 characters) on a word boundary, without an ellipsis.

    Builders put the decisive fact first and add optional tails with ``summary_line``, so a cut only ever
    removes the least important words.
    """
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:")


def summary_line(essential: str, *optional: str) -> str:
    """The essential part, then as many optional parts (each "; "-joined) as fit under 140 characters."""
    line = essential
    for part in optional:
        candidate = f"{line}; {part}"
        if len(candidate) > SUMMARY_MAX_CHARS:
            break
        line = candidate
    return fit_summary(line)


def lower_first(text: str) -> str:
    """A fact's first letter lower-cased for use inside a line, only when its first word is a plain word:
    "Organ transplant" → "organ transplant", never "aFP 95 ng/mL" or "eCOG 2"; a name with a capital inside
    its first word ("Child-Pugh B") is kept as written (pharmacist review)."""
    word = text.split(" ", 1)[0]
    if word[1:2].islower() and word[1:] == word[1:].lower():
        return text[:1].lower() + text[1:]
    return text


def place_text(regimen: OptionAssessment | SelectedAssessment, preferred: str = "preferred") -> str:
    """A regimen's place as cards show it.

    "already received" when the patient has had it (policy 2.3 and 6.1: the already_received gate caps the
    place, but a regimen outside the setting's options ranks lower still, "not addressed by the review",
    which would hide that the patient already received it). The place carries the regimen's own cautions
    (``cautions``, decided in ``sequencing.cautions``): "option (caution: organ transplant)", never a bare
    "option" (policy 6.2, pharmacist review). ``preferred`` is how the setting words its preferred place
    (``place_label``).
    """
    if regimen.already_received:
        return ALREADY_RECEIVED
    label = place_label(regimen.place, preferred)
    if not regimen.cautions:
        return label
    return f"{label} (caution: {'; '.join(dict.fromkeys(lower_first(f.summary) for f in regimen.cautions))})"


def place_label(place: Place, preferred: str = "preferred") -> str:
    """A place's label, the preferred place in the setting's own words (``Recommendation.preferred_wordings``:
    "may be preferred" after atezolizumab + bevacizumab, "preferred in the 2021 review" in first line; section 2,
    pharmacist review)."""
    return preferred if place is Place.PREFERRED else place.label


def regimen_basis(selected: SelectedAssessment, said: Iterable[str] = ()) -> list[str]:
    """The selected regimen's own evidence level and reason in this setting, as sentences a card keeps next to
    any caution it shows (policy 6.3: nivolumab alone stays "phase I/II; US accelerated approval withdrawn
    2021-07-23", less preferable, whatever else applies; pharmacist review): "Rule for this setting: ..." (the
    knowledge's rationale, unless ``said`` already holds it) and "Evidence: ...".
    """
    lines = []
    if selected.rationale and selected.rationale not in set(said):
        lines.append(f"Rule for this setting: {selected.rationale}")
    if selected.evidence is not None:
        trials = f" ({', '.join(selected.trials)})" if selected.trials else ""
        lines.append(f"Evidence: {selected.evidence.label}{trials}.")
    return lines


_tails: Memo[tuple[str, ...]] = Memo(1024)


def preferred_tails(
    options: Sequence[OptionAssessment],
    shared_gates: Iterable[str] = (),
    wordings: Sequence[str] = ("preferred",),
) -> list[str]:
    """``summary_tails``, once per set of assessment objects (the engine hands out one object for equal
    assessments)."""
    held, shared, said = tuple(options), frozenset(shared_gates), tuple(wordings)
    return list(_tails.get(held, (shared, said), lambda: tuple(summary_tails(held, shared, said))))


def summary_tails(
    options: Sequence[OptionAssessment],
    shared_gates: Iterable[str] = (),
    wordings: Sequence[str] = ("preferred",),
) -> list[str]:
    """Ways to end a summary with the preferred regimens, most complete first; a summary takes the first that fits
    and otherwise leaves the regimens out (policy 6.1-6.2, pharmacist review).

    A named regimen is never bare when it has a caution: it carries its own cautions (``cautions``: organ
    transplant, autoimmune disease, prior immune toxicity on a checkpoint inhibitor) and the cautions it shares
    with the selected order (``shared_gates``: e.g. ECOG 2, Child-Pugh B, where the card withholds it), e.g.
    "atezolizumab + bevacizumab preferred (caution: organ transplant)". The checkpoint-inhibitor notes (hepatitis
    B) come in the first forms only: the detail always carries them. ``wordings`` are the setting's words for the
    preferred place, most complete first ("preferred in the 2021 review", then "preferred";
    ``Recommendation.preferred_wordings``), each tried in turn.
    """
    shared = set(shared_gates)
    named = [o for o in options if o.place is Place.PREFERRED and o.drug]
    if not named:
        return []
    forms = []
    for with_notes, wording in ((notes, wording) for notes in (True, False) for wording in wordings):
        groups: dict[str, list[str]] = {}
        for option in named:
            loud = [*option.cautions]
            loud += [f for f in option.findings if f.gate_id in shared and f.severity is not Severity.INFO]
            cautions = [lower_first(f.summary) for f in dict.fromkeys(loud)]
            notes = [lower_first(f.summary) for f in option.notes if with_notes]
            parts = ([f"caution: {'; '.join(dict.fromkeys(cautions))}"] if cautions else []) + notes
            suffix = f" ({'; '.join(parts)})" if parts else ""
            groups.setdefault(suffix, []).append(option.label.lower())
        forms.append(", ".join(f"{joined(labels, 'or')} {wording}{suffix}" for suffix, labels in groups.items()))
    return list(dict.fromkeys(forms))


def first_fitting(line: str, tails: Sequence[str]) -> str:
    """``line``, then "; " and the first of ``tails`` that keeps it under 140 characters (none if none does)."""
    for tail in tails:
        candidate = f"{line}; {tail}"
        if len(candidate) <= SUMMARY_MAX_CHARS:
            return candidate
    return line


def more_cautions(count: int) -> str:
    """The marker for cautions a summary could not name: " (+1 more caution)", " (+3 more cautions)"."""
    if count <= 0:
        return ""
    return f" (+{count} more caution{'s' if count > 1 else ''})"


def caution_line(essential: str, cautions: Sequence[str]) -> tuple[str, int]:
    """The essential part, then the cautions in their order as many as fit, then "(+N more cautions)" for the
    rest, so none is dropped silently (pharmacist review of policy 6.1: under 140 characters, no ellipsis).
    A caution the essential part already names (e.g. "(caution: autoimmune disease)" after a preferred regimen)
    is not repeated. Returns the line and how many cautions it could not name."""
    cautions = list(dict.fromkeys(c for c in cautions if c and c.lower() not in essential.lower()))
    for named in range(len(cautions), -1, -1):
        line = "; ".join([essential, *cautions[:named]]) + more_cautions(len(cautions) - named)
        if len(line) <= SUMMARY_MAX_CHARS:
            return line, len(cautions) - named
    marker = more_cautions(len(cautions))
    return fit_summary(essential, SUMMARY_MAX_CHARS - len(marker)) + marker, len(cautions)


def summary_with_cautions(essential: str, cautions: Sequence[str], tail: Sequence[str] = ()) -> str:
    """``caution_line``, then the first of the optional ``tail`` forms that fits (e.g. what is preferred, most
    complete first) only when every caution is named."""
    line, unnamed = caution_line(essential, cautions)
    return first_fitting(line, tail) if not unnamed else line


def summary_naming_cautions(forms: Sequence[str], cautions: Sequence[str], tail: Sequence[str] = ()) -> str:
    """The first of ``forms`` (the essential part, most complete first) whose line names every caution, then
    the first optional ``tail`` form that fits; if none does, the form that names the most, the rest counted. A
    form is never cut: the summary gives up words of the answer before it leaves a caution unnamed (pharmacist
    review). Kept per (forms, cautions, tail): a pure function of those texts."""
    return _naming_cautions(tuple(forms), tuple(cautions), tuple(tail))


@lru_cache(maxsize=4096)
def _naming_cautions(forms: tuple[str, ...], cautions: tuple[str, ...], tail: tuple[str, ...]) -> str:
    results = []
    for form in forms:
        line, unnamed = caution_line(form, cautions)
        if not unnamed and line.startswith(form):
            return first_fitting(line, tail)
        results.append((form, line, unnamed))
    whole = [result for result in results if result[1].startswith(result[0])] or results[-1:]
    for form, _, unnamed in whole:
        if not unnamed:
            return summary_with_cautions(form, cautions, tail)
    return min(whole, key=lambda result: result[2])[1]


def card_source(knowledge: Knowledge, evidence_page: str) -> Source:
    """The review and knowledge version, with ``url`` at the service's evidence page for the setting."""
    return _source(f"{knowledge.info.review.label}; knowledge v{knowledge.version}", evidence_page)


@lru_cache(maxsize=256)
def _source(label: str, url: str) -> Source:
    return Source(label=label, url=url)


def evidence_page(rec: Recommendation, ctx: CardContext) -> str:
    """The knowledge page of the recommendation's setting (every regimen, every trial, the later evidence)."""
    return knowledge_page_url(ctx.public_base_url, rec.setting.value if rec.setting else None)


def card_links(rec: Recommendation, ctx: CardContext, regimens: Iterable[OptionAssessment]) -> list[Link]:
    """The trials behind the selected regimen(s) and ``regimens``, the timeline app, then the evidence page: at
    most five links."""
    by_id = {o.regimen_id: o for o in rec.options}
    selected = [by_id[s.regimen_id] for s in rec.selected if s.regimen_id in by_id]
    trials = [t for option in (*selected, *regimens) for t in option.trials]
    return capped_links(trials, ctx.knowledge, evidence_page(rec, ctx), timeline_app_url(ctx.public_base_url))


def closing_line(knowledge: Knowledge) -> str:
    """Policy 6.4: every card ends by saying what it is."""
    return (
        f"_Decision support from a {knowledge.info.review.published} review plus dated later evidence "
        f"(knowledge v{knowledge.version}); the treating clinician decides._"
    )


ALREADY_RECEIVED = "already received"
