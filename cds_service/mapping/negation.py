"""Free-text negation of text matches, NegEx-style (knowledge/conditions.yaml ``text_negation``).

The project's choice, not the review's: "no history of transplant", "denies autoimmune disease" and
"ruled out lupus" do not record the condition. Only text is negated; a code is what it says. Which cues
apply to which vocabulary is chosen in ``ConditionMapper`` and documented in conditions.yaml: post-negation
("HCC excluded on MRI") only for the HCC diagnosis, future/hypothetical cues ("awaiting liver
transplant", ConText-style ``text_hypothetical``) only for organ transplant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cds_service.knowledge import TextHypothetical, TextNegation, TextNotTheFinding

_CLAUSE_END = re.compile(r"[.,;:!?()\[\]\n]")
# A heading such as "Family history: lupus" governs what follows its colon: not-the-patient cues reach across it.
_CLAUSE_END_BUT_COLON = re.compile(r"[.,;!?()\[\]\n]")
_WORD = re.compile(r"\w+")


def _phrases(phrases: Iterable[str], *, after_hyphen: bool = True) -> re.Pattern[str] | None:
    """One case-insensitive pattern for whole-word phrases, longest first.

    ``after_hyphen=False``: a phrase glued to the word before it by a hyphen is not a cue ("AFP-negative"
    is a compound adjective, not a negation of what precedes it).
    """
    ordered = sorted(set(phrases), key=len, reverse=True)
    if not ordered:
        return None
    before = r"(?<![\w-])" if not after_hyphen else r"(?<!\w)"
    return re.compile(before + r"(?:" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)", re.IGNORECASE)


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group())


class Negation:
    """The negation rules of the knowledge, compiled once.

    ``post``: also apply the knowledge's post-negation cues (the HCC diagnosis only). ``hypothetical``:
    also apply these future/hypothetical cues, before and right after a match (organ transplant only).
    ``other_findings``: a word naming another finding also ends a negation's scope (policy 6.5; cautions and
    populations). ``not_the_patients``: a match whose clause holds one of these cues (family history,
    vaccination) never counts (policy 6.5). ``context_pre``: words that, up to ``context_window`` words
    before a match in its clause, make it the reason for another entry ("transplant for HCC").
    """

    def __init__(
        self,
        rules: TextNegation,
        *,
        post: bool = False,
        hypothetical: TextHypothetical | None = None,
        other_findings: bool = False,
        not_the_patients: TextNotTheFinding | None = None,
        context_pre: Iterable[str] = (),
        context_window: int = 3,
    ):
        self.window = rules.window_words
        self._pre = _phrases(rules.pre_negation)
        self._pseudo = _phrases(rules.pseudo_negation)
        ends = [*rules.termination, *(rules.other_findings if other_findings else ())]
        self._termination = _phrases(ends)
        self._not_the_patients = _phrases(not_the_patients.cues) if not_the_patients is not None else None
        self._immunization = _phrases(not_the_patients.immunization_cues) if not_the_patients is not None else None
        self._immunization_window = not_the_patients.window_words if not_the_patients is not None else 0
        self._context = _phrases(context_pre)
        self._context_window = context_window
        self._post_termination = _phrases([*rules.termination, *rules.post_termination])
        self._post = _phrases(rules.post_negation, after_hyphen=False) if post else None
        self._post_window = rules.post_window_words
        self._hypothetical = hypothetical
        if hypothetical is not None:
            self._hyp_pre = _phrases(hypothetical.pre)
            self._hyp_post = _phrases(hypothetical.post, after_hyphen=False)
            self._hyp_existing = _phrases(hypothetical.existing)
            self._hyp_existing_in_clause = _phrases(hypothetical.existing_in_clause)
            self._hyp_termination = _phrases([*rules.termination, *hypothetical.termination])

    def _clause_before(self, text: str, start: int) -> str:
        prefix = text[:start]
        prefix = prefix[max((m.end() for m in _CLAUSE_END.finditer(prefix)), default=0) :]
        return self._pseudo.sub(_blank, prefix) if self._pseudo is not None else prefix

    def _clause_after(self, text: str, end: int) -> str:
        suffix = text[end:]
        clause_end = _CLAUSE_END.search(suffix)
        suffix = suffix[: clause_end.start()] if clause_end else suffix
        return self._pseudo.sub(_blank, suffix) if self._pseudo is not None else suffix

    @staticmethod
    def _cue_before(
        cues: re.Pattern[str] | None, prefix: str, window: int, termination: re.Pattern[str] | None
    ) -> bool:
        found = list(cues.finditer(prefix)) if cues is not None else []
        if not found:
            return False
        scope = prefix[found[-1].end() :]
        if termination is not None and termination.search(scope):
            return False
        return len(_WORD.findall(scope)) <= window

    @staticmethod
    def _cue_after(cues: re.Pattern[str] | None, suffix: str, window: int, termination: re.Pattern[str] | None) -> bool:
        cue = cues.search(suffix) if cues is not None else None
        if cue is None:
            return False
        scope = suffix[: cue.start()]
        if termination is not None and termination.search(scope):
            return False
        return len(_WORD.findall(scope)) <= window

    def _hypothetical_cue(self, prefix: str, suffix: str) -> bool:
        hypothetical = self._hypothetical
        if hypothetical is None:
            return False
        existing = self._hyp_existing.match(suffix.lstrip()) if self._hyp_existing is not None else None
        if existing is not None:  # "evaluation for transplant rejection": a transplant that exists
            return False
        later = self._hyp_existing_in_clause
        if later is not None and later.search(suffix):  # "transplant evaluation of graft function"
            return False
        termination = self._hyp_termination
        return self._cue_before(self._hyp_pre, prefix, hypothetical.window_words, termination) or self._cue_after(
            self._hyp_post, suffix, hypothetical.post_window_words, termination
        )

    def negated(self, text: str, start: int, end: int | None = None) -> bool:
        """Is the text match ``text[start:end]`` negated (NegEx-style, knowledge ``text_negation``)?

        Yes when a pre-negation cue comes before it in the same clause, with at most ``window`` words
        between, and no termination word after the cue, or a ``context_pre`` word within its window. When
        ``end`` is given, also when the clause holds a not-the-patient cue, or when a post cue of this
        instance (post-negation: HCC; hypothetical: transplant) follows it in the same clause within its
        window with no termination word between, or a hypothetical pre cue precedes it. Pseudo-negation
        phrases are not cues.
        """
        prefix = self._clause_before(text, start)
        if self._cue_before(self._pre, prefix, self.window, self._termination):
            return True
        if self._cue_before(self._context, prefix, self._context_window, None):
            return True
        if end is None:
            return False
        suffix = self._clause_after(text, end)
        if self._not_the_patients is not None:
            heading = text[:start]
            heading = heading[max((m.end() for m in _CLAUSE_END_BUT_COLON.finditer(heading)), default=0) :]
            if self._not_the_patients.search(heading) or self._not_the_patients.search(suffix):
                return True
        window = self._immunization_window
        if self._cue_before(self._immunization, prefix, window, None) or self._cue_after(
            self._immunization, suffix, window, None
        ):
            return True
        post = self._cue_after(self._post, suffix, self._post_window, self._post_termination)
        return post or self._hypothetical_cue(prefix, suffix)

    def affirmed(self, pattern: re.Pattern[str], text: str) -> bool:
        """Does ``pattern`` match ``text`` at least once where the match is not negated?"""
        return any(not self.negated(text, match.start(), match.end()) for match in pattern.finditer(text))
