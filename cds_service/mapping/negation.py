"""Free-text negation of text matches, NegEx-style (knowledge/conditions.yaml ``text_negation``).

The project's choice, not the review's: "no history of transplant", "denies autoimmune disease" and
"ruled out lupus" do not record the condition. Only text is negated; a code is what it says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cds_service.sequencing.knowledge import TextNegation

_CLAUSE_END = re.compile(r"[.,;:!?()\[\]\n]")
_WORD = re.compile(r"\w+")


def _phrases(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for whole-word phrases, longest first."""
    ordered = sorted(set(phrases), key=len, reverse=True)
    if not ordered:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)", re.IGNORECASE)


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group())


class Negation:
    """The negation rules of the knowledge, compiled once."""

    def __init__(self, rules: TextNegation) -> None:
        self.window = rules.window_words
        self._pre = _phrases(rules.pre_negation)
        self._pseudo = _phrases(rules.pseudo_negation)
        self._termination = _phrases(rules.termination)

    def negated(self, text: str, start: int) -> bool:
        """Is the text match beginning at ``start`` negated (NegEx-style, knowledge ``text_negation``)?

        Yes when a pre-negation cue comes before it in the same clause, with at most ``window`` words
        between, and no termination word after the cue. Pseudo-negation phrases are not cues.
        """
        prefix = text[:start]
        prefix = prefix[max((m.end() for m in _CLAUSE_END.finditer(prefix)), default=0) :]
        if self._pseudo is not None:
            prefix = self._pseudo.sub(_blank, prefix)
        cues = list(self._pre.finditer(prefix)) if self._pre is not None else []
        if not cues:
            return False
        scope = prefix[cues[-1].end() :]
        if self._termination is not None and self._termination.search(scope):
            return False
        return len(_WORD.findall(scope)) <= self.window

    def affirmed(self, pattern: re.Pattern[str], text: str) -> bool:
        """Does ``pattern`` match ``text`` at least once where the match is not negated?"""
        return any(not self.negated(text, match.start()) for match in pattern.finditer(text))
