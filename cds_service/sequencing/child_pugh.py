"""Child-Pugh scoring from the recorded components, as a range when parts are unknown.

Points (docs/clinical-sequencing.md 1): bilirubin <2 / 2-3 / >3 mg/dL; albumin >3.5 / 2.8-3.5 / <2.8 g/dL;
INR <1.7 / 1.7-2.3 / >2.3; ascites and encephalopathy none / mild / moderate-severe. Class A 5-6, B 7-9,
C 10-15 (thresholds in knowledge/parameters.yaml). Policy 6.2: the minimum counts what is recorded, the
maximum adds the worst case for what is not; a lab older than the configured age counts as missing;
ascites and encephalopathy that are not recorded are unknown, not absent; a recorded absence ("No ascites")
is an absence (1 point) while it is no older than the labs may be, and unknown after that. Policy 6.5: a lab
result not used (no unit, implausible: ``LabValue.problem``) counts as missing. Policy 6.2: a recorded
Child-Pugh class and the class computed from current labs: the worse counts, and both are shown.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from cds_service.facts import ChildPughClass, CodedChildPugh, LabValue, LiverFacts, LiverFinding, Provenance
from cds_service.knowledge import ChildPughThresholds, ClinicalParameters
from cds_service.sequencing.wording import joined


@dataclass(frozen=True, slots=True)
class LabUse:
    """One lab as the score used it: its value, or why it was left out (missing, too old)."""

    name: str
    lab: LabValue | None
    stale: bool = False

    @property
    def usable(self) -> bool:
        return self.lab is not None and not self.stale and self.lab.problem is None

    def describe(self) -> str:
        if self.lab is None:
            return f"{self.name} not on record"
        when = self.lab.effective.isoformat() if self.lab.effective else "undated"
        text = f"{self.name} {self.lab.as_reported} ({when})"
        if self.lab.problem is not None:
            return f"{text} not used: {self.lab.problem}"
        return f"{text}, too old" if self.stale else text


_FINDING_TEXT = {"absent": "recorded absent", "mild": "mild", "moderate_severe": "moderate-severe", None: "not graded"}


@dataclass(frozen=True, slots=True)
class FindingUse:
    """Ascites or hepatic encephalopathy as recorded, and whether the score used it: an absence older than the
    labs may be counts as not recorded (``current_finding``)."""

    name: str
    finding: LiverFinding
    stale: bool = False

    def describe(self) -> str:
        """ "ascites recorded absent (Condition/x, 2026-11-20)": the fact with its source and date (section 1)."""
        when = self.finding.source.date.isoformat() if self.finding.source.date else "undated"
        text = f"{self.name} {_FINDING_TEXT[self.finding.severity]} ({self.finding.source.reference}, {when})"
        return f"{text}, too old: counted as not recorded" if self.stale else text


@dataclass(frozen=True, slots=True)
class ChildPughAssessment:
    """The score range and what it rests on. ``coded`` when the site's recorded class was used."""

    score_min: int
    score_max: int
    min_class: ChildPughClass
    max_class: ChildPughClass
    labs: tuple[LabUse, ...]
    unrecorded_findings: tuple[str, ...]
    sources: tuple[Provenance, ...]
    coded: bool = False
    ungraded_findings: tuple[str, ...] = ()
    recorded_findings: tuple[FindingUse, ...] = ()
    # Policy 6.2: the other of a recorded and a computed class, shown beside the worse one that counts.
    compared: str | None = None

    @property
    def labs_known(self) -> bool:
        """A recorded class needs no labs; a computed one needs current bilirubin, albumin and INR."""
        return self.coded or all(lab.usable for lab in self.labs)

    @property
    def class_text(self) -> str:
        """ "B", "A or B", "A, B or C"."""
        classes = [c for c in ("A", "B", "C") if self.min_class <= c <= self.max_class]
        return joined(classes, "or")

    @property
    def score_text(self) -> str:
        if self.coded and self.score_min != self.score_max:
            return f"recorded class {self.min_class}"
        if self.score_min == self.score_max:
            return f"score {self.score_min}"
        return f"score {self.score_min}-{self.score_max}"

    @property
    def missing_labs(self) -> tuple[str, ...]:
        return tuple(lab.name for lab in self.labs if not lab.usable)

    @property
    def unknown_text(self) -> str:
        """What leaves the class open (policy 6.2, range): "INR missing, ascites/encephalopathy not recorded"."""
        missing = [lab.name for lab in self.labs if lab.lab is None]
        unused = [lab.name for lab in self.labs if lab.lab is not None and lab.lab.problem is not None]
        stale = [lab.name for lab in self.labs if lab.lab is not None and lab.lab.problem is None and lab.stale]
        if self.coded:
            parts = []
        elif len(missing) + len(stale) == len(self.labs):
            parts = ["no current liver labs"]
        else:
            parts = [joined(missing, "and") + " missing"] if missing else []
            parts += [joined(unused, "and") + " not usable"] if unused else []
            parts += [joined(stale, "and") + " too old"] if stale else []
        findings = "/".join(name.removeprefix("hepatic ") for name in self.unrecorded_findings)
        parts += [f"{findings} not recorded"] if findings else []
        parts += [f"{name} not graded" for name in self.ungraded_findings]
        return ", ".join(parts)


def child_pugh_class(score: int, thresholds: ChildPughThresholds) -> ChildPughClass:
    if score >= thresholds.class_c_from:
        return "C"
    return "B" if score >= thresholds.class_b_from else "A"


def _class_bounds(klass: ChildPughClass, thresholds: ChildPughThresholds) -> tuple[int, int]:
    if klass == "A":
        return 5, thresholds.class_b_from - 1
    if klass == "B":
        return thresholds.class_b_from, thresholds.class_c_from - 1
    return thresholds.class_c_from, 15


def _lab_points(value: Decimal, bounds: tuple[Decimal, Decimal], *, higher_is_worse: bool) -> int:
    low, high = bounds
    if higher_is_worse:
        return 1 if value < low else (2 if value <= high else 3)
    return 1 if value > high else (2 if value >= low else 3)


def current_finding(finding: LiverFinding | None, today: date, max_age_days: int) -> LiverFinding | None:
    """Policy 6.2 "a recorded absence is an absence": an absence counts only while it is as recent as a
    usable lab (``liver_lab_max_age_days``, a project choice: an old "no ascites" must not lower the
    worst case); an older or undated absence is treated as not recorded. A recorded finding always counts."""
    if finding is None or finding.severity != "absent":
        return finding
    when = finding.source.date
    return finding if when is not None and (today - when).days <= max_age_days else None


def _finding_points(finding: LiverFinding | None) -> tuple[int, int]:
    """None recorded: unknown (1-3); recorded absent: 1; recorded but not graded: 2-3; mild 2; moderate-severe 3."""
    if finding is None:
        return 1, 3
    if finding.severity == "absent":
        return 1, 1
    if finding.severity == "mild":
        return 2, 2
    if finding.severity == "moderate_severe":
        return 3, 3
    return 2, 3


def _lab_use(name: str, lab: LabValue | None, today: date, max_age_days: int) -> LabUse:
    stale = lab is not None and (lab.effective is None or (today - lab.effective).days > max_age_days)
    return LabUse(name, lab, stale)


def assess_child_pugh(liver: LiverFacts, params: ClinicalParameters, today: date) -> ChildPughAssessment:
    """Child-Pugh as a score range: a site-coded class when recorded, otherwise computed from its parts."""
    thresholds = params.child_pugh
    max_age = params.liver_lab_max_age_days
    labs = (
        _lab_use("bilirubin", liver.bilirubin_mg_per_dl, today, max_age),
        _lab_use("albumin", liver.albumin_g_per_dl, today, max_age),
        _lab_use("INR", liver.inr, today, max_age),
    )
    computed = _computed(liver, labs, params, today)
    coded = liver.coded
    if coded is None or coded.source.date is None or (today - coded.source.date).days > max_age:
        return computed
    if coded.score is not None:
        klass = child_pugh_class(coded.score, thresholds)
        low = high = coded.score
    elif coded.child_pugh_class is not None:
        klass = coded.child_pugh_class
        low, high = _class_bounds(klass, thresholds)
    else:
        return computed
    recorded = ChildPughAssessment(low, high, klass, klass, labs, (), (coded.source,), coded=True)
    # Policy 6.2: take the worse of the recorded and the computed class (by what each is at least), show both.
    if computed.min_class > recorded.min_class:
        return replace(computed, compared=_recorded_text(coded, recorded))
    computed_text = f"computed from current labs: class {computed.class_text} ({computed.score_text})"
    return replace(recorded, compared=computed_text)


def _recorded_text(coded: CodedChildPugh, recorded: ChildPughAssessment) -> str:
    when = coded.source.date.isoformat() if coded.source.date else "undated"
    return f"recorded class {recorded.class_text} ({coded.source.reference}, {when}), the better of the two"


def _computed(
    liver: LiverFacts, labs: tuple[LabUse, ...], params: ClinicalParameters, today: date
) -> ChildPughAssessment:
    """The score range from the recorded components (policy 6.2, "Child-Pugh as a range")."""
    thresholds = params.child_pugh
    max_age = params.liver_lab_max_age_days
    low = high = 0
    bounds = {
        "bilirubin": (thresholds.bilirubin_mg_per_dl, True),
        "albumin": (thresholds.albumin_g_per_dl, False),
        "INR": (thresholds.inr, True),
    }
    for use in labs:
        if use.usable and use.lab is not None:
            limits, higher_is_worse = bounds[use.name]
            points = _lab_points(use.lab.value, limits, higher_is_worse=higher_is_worse)
            low, high = low + points, high + points
        else:
            low, high = low + 1, high + 3
    unrecorded, ungraded, recorded = [], [], []
    ascites = current_finding(liver.ascites, today, max_age)
    encephalopathy = current_finding(liver.encephalopathy, today, max_age)
    for name, finding, as_recorded in (
        ("ascites", ascites, liver.ascites),
        ("hepatic encephalopathy", encephalopathy, liver.encephalopathy),
    ):
        points_min, points_max = _finding_points(finding)
        low, high = low + points_min, high + points_max
        if as_recorded is not None:
            recorded.append(FindingUse(name, as_recorded, stale=finding is None))
        if finding is None:
            unrecorded.append(name)
        elif finding.severity is None:
            ungraded.append(name)
    sources = tuple(
        [use.lab.source for use in labs if use.usable and use.lab is not None]
        + [f.source for f in (ascites, encephalopathy) if f is not None]
    )
    return ChildPughAssessment(
        score_min=low,
        score_max=high,
        min_class=child_pugh_class(low, thresholds),
        max_class=child_pugh_class(high, thresholds),
        labs=labs,
        unrecorded_findings=tuple(unrecorded),
        sources=sources,
        ungraded_findings=tuple(ungraded),
        recorded_findings=tuple(recorded),
    )
