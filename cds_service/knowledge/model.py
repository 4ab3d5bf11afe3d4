"""The clinical knowledge model: the typed shape of the versioned YAML files beside this module.

An unknown regimen, agent, trial or gate in any file is a start-up error (``KnowledgeError``), never a
runtime surprise. Every option and gate must cite the section it rests on. A site's parameter overrides
(a YAML file) are part of the knowledge: their content hash is appended to the version on every card.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cds_service.knowledge.pilot import PilotSwitches
from cds_service.knowledge.releases import Release


class KnowledgeError(Exception):
    """The knowledge files are inconsistent or invalid."""


class Place(StrEnum):
    """Where a regimen stands for this patient, best first."""

    PREFERRED = "preferred"
    OPTION = "option"
    LESS_PREFERABLE = "less_preferable"
    NOT_PREFERRED = "not_preferred"
    NOT_SUPPORTED = "not_supported"
    NOT_ADDRESSED = "not_addressed"

    @property
    def rank(self) -> int:
        return _PLACE_RANKS[self]

    @property
    def label(self) -> str:
        return _PLACE_LABELS[self]


_PLACE_RANKS = {place: rank for rank, place in enumerate(Place)}
_PLACE_LABELS = {
    Place.PREFERRED: "preferred",
    Place.OPTION: "option",
    Place.LESS_PREFERABLE: "less preferable",
    Place.NOT_PREFERRED: "not preferred",
    Place.NOT_SUPPORTED: "not supported for this patient",
    Place.NOT_ADDRESSED: "not addressed by the review",
}


class EvidenceLevel(StrEnum):
    PHASE3 = "phase3"
    PHASE2_ACCELERATED_APPROVAL = "phase2_accelerated_approval"
    PHASE2_APPROVAL_WITHDRAWN = "phase2_approval_withdrawn"
    RETROSPECTIVE = "retrospective"
    NONE = "none"

    @property
    def label(self) -> str:
        return _EVIDENCE_LABELS[self]


_EVIDENCE_LABELS = {
    EvidenceLevel.PHASE3: "phase III randomized (level 1)",
    EvidenceLevel.PHASE2_ACCELERATED_APPROVAL: "phase I/II with FDA accelerated approval",
    EvidenceLevel.PHASE2_APPROVAL_WITHDRAWN: "phase I/II; US accelerated approval withdrawn 2021-07-23",
    EvidenceLevel.RETROSPECTIVE: "retrospective data only",
    EvidenceLevel.NONE: "no prospective evidence",
}


class SettingId(StrEnum):
    FIRST_LINE = "first_line"
    AFTER_SORAFENIB = "after_sorafenib"
    AFTER_LENVATINIB = "after_lenvatinib"
    AFTER_ATEZOLIZUMAB_BEVACIZUMAB = "after_atezolizumab_bevacizumab"
    AFTER_OTHER_IMMUNOTHERAPY = "after_other_immunotherapy"
    AFTER_OTHER_REGIMEN = "after_other_regimen"
    BEYOND_SECOND_LINE = "beyond_second_line"
    NOT_DETERMINED = "not_determined"  # a prior line the review does not cover (policy 6.5)


class Severity(StrEnum):
    """How loudly a gate speaks (clinical-sequencing.md 6.1): a statement, a misfit, a safety stop."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANKS[self]


_SEVERITY_RANKS = {severity: rank for rank, severity in enumerate(Severity)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRef(_Strict):
    """A pointer into the review: its section and, where there is one, the sentence relied on."""

    section: str = Field(min_length=1)
    quote: str | None = None


class Trial(_Strict):
    title: str
    design: str | None = None
    nct: str | None = Field(None, pattern=r"^NCT\d{8}$")
    doi: str | None = Field(None, pattern=r"^10\.\d{4,9}/\S+$")
    pmid: str | None = Field(None, pattern=r"^\d{1,9}$")
    citation: str | None = None
    key_result: str
    review_section: str
    after_review: bool = False

    @property
    def registry_url(self) -> str | None:
        return f"https://clinicaltrials.gov/study/{self.nct}" if self.nct else None

    @property
    def publication_url(self) -> str | None:
        if self.doi:
            return f"https://doi.org/{self.doi}"
        if self.pmid:
            return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"
        return None


class PostReviewNote(_Strict):
    """Later evidence, dated: a full date, or a publication's year and journal, or a standing fact as of a date."""

    date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    published: str | None = Field(None, pattern=r"^.*\d{4}.*$")
    as_of: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    settings: tuple[SettingId, ...] = ()
    regimens: tuple[str, ...] = ()
    trials: tuple[str, ...] = ()
    text: str

    @model_validator(mode="after")
    def _dated(self) -> PostReviewNote:
        if sum(v is not None for v in (self.date, self.published, self.as_of)) != 1:
            raise ValueError(f"a later-evidence note needs exactly one of date, published, as_of: {self.text[:40]}")
        if not self.settings and not self.regimens:
            raise ValueError(f"a later-evidence note must name settings or regimens: {self.text[:40]}")
        return self

    @property
    def when(self) -> str:
        if self.date:
            return self.date
        if self.published:
            return self.published
        return f"as of {self.as_of}"


class EvidenceCatalog(_Strict):
    trials: dict[str, Trial]
    post_review_notes: tuple[PostReviewNote, ...]


class OrderCoding(_Strict):
    """The RxNorm concept a suggested draft order is coded with: its term type said honestly, and its source."""

    code: str = Field(pattern=r"^\d+$")
    display: str
    term_type: Literal["IN", "SCD", "SCDG"]  # ingredient, clinical drug, dose-form group
    source: str


class Agent(_Strict):
    drug_class: str
    names: tuple[str, ...] = Field(min_length=1)
    brands: tuple[str, ...] = ()
    rxnorm: tuple[str, ...] = ()
    rxnorm_ingredient: str | None = None
    order_coding: OrderCoding | None = None
    immunotherapy: bool = False
    also_contains: tuple[str, ...] = ()


class Terminology(_Strict):
    rxnorm_system: str
    agents: dict[str, Agent]
    other_agents: dict[str, Agent] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _codes_are_unambiguous(self) -> Terminology:
        seen: dict[str, str] = {}
        for agent_id, agent in {**self.agents, **self.other_agents}.items():
            if agent.rxnorm_ingredient and agent.rxnorm_ingredient not in agent.rxnorm:
                raise ValueError(f"{agent_id}: rxnorm_ingredient must also be listed in rxnorm")
            if agent.order_coding and agent.order_coding.code not in agent.rxnorm:
                raise ValueError(f"{agent_id}: order_coding code must also be listed in rxnorm")
            for code in agent.rxnorm:
                if code in seen:
                    raise ValueError(f"RxNorm code {code} listed for both {seen[code]} and {agent_id}")
                seen[code] = agent_id
            for other in agent.also_contains:
                if other not in self.agents:
                    raise ValueError(f"{agent_id}: also_contains names unknown agent {other}")
        return self


class StopReasonVocabulary(_Strict):
    """Words that classify a stop reason written as text (medication_history.yaml; policy 6.5)."""

    source: str
    progression: tuple[str, ...] = Field(min_length=1)
    intolerance: tuple[str, ...] = Field(min_length=1)


class NonReviewAgent(_Strict):
    """An anticancer agent outside the review: a prior line with it is an unidentified line (policy 6.5)."""

    names: tuple[str, ...] = Field(min_length=1)
    brands: tuple[str, ...] = ()
    rxnorm: tuple[str, ...] = ()


class Product(_Strict):
    """A product of a reviewed agent that is not its HCC product (Cometriq capsules; policy 6.5)."""

    agent: str
    label: str
    brands: tuple[str, ...] = ()
    rxnorm: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    note: str


class MedicationHistory(_Strict):
    """How the medication history is read (knowledge/medication_history.yaml; policy 6.5)."""

    stop_reasons: StopReasonVocabulary
    non_review_agents: dict[str, NonReviewAgent]
    investigational_text: tuple[str, ...] = Field(min_length=1)
    products: dict[str, Product] = Field(default_factory=dict)
    hcc_products: dict[str, str] = Field(default_factory=dict)


class Regimen(_Strict):
    label: str
    agents: tuple[str, ...]
    drug: bool = Field(
        default=True,
        description="False for an entry that is no drug (clinical trial enrollment): never offered in one click, "
        "never named as a preferred regimen, not a better option a selected drug is measured against.",
    )


class OptionRule(_Strict):
    regimen: str
    place: Place
    evidence: EvidenceLevel
    trials: tuple[str, ...] = ()
    rationale: str
    source: SourceRef
    after_review: bool = False


class SettingRules(_Strict):
    title: str
    phrase: str = Field(description="How the setting reads in a sentence: 'after sorafenib'.")
    source: SourceRef
    options: tuple[OptionRule, ...] = ()
    extrapolated_from: SettingId | None = None
    extrapolation_note: str | None = None
    setting_note: str | None = None
    scope_note: str | None = None
    max_place: Place | None = None
    preferred_label: str = Field(
        "preferred", min_length=1, description="How the setting's preferred place reads, in its source's words."
    )
    preferred_attribution: str | None = Field(
        None, description="Who states the preference, added wherever it fits: 'in the 2021 review'."
    )
    undetermined: bool = Field(
        False, description="The review's sequencing does not reach this setting: no options by design."
    )

    @model_validator(mode="after")
    def _options_or_extrapolation(self) -> SettingRules:
        if self.undetermined:
            if self.options or self.extrapolated_from:
                raise ValueError("an undetermined setting has no options")
            return self
        if not self.options and not self.extrapolated_from:
            raise ValueError("a setting has its own options, or extrapolated_from, or both")
        if self.extrapolated_from and not self.extrapolation_note:
            raise ValueError("an extrapolated setting must say so (extrapolation_note)")
        return self

    @property
    def notes(self) -> tuple[str, ...]:
        """The setting's notes in reading order: scope, extrapolation, setting."""
        return tuple(n for n in (self.scope_note, self.extrapolation_note, self.setting_note) if n)

    def place_label(self, place: Place) -> str:
        """A place as this setting words it: the preferred place in its source's words, with who states it
        ("may be preferred", "preferred in the 2021 review"); any other place as labelled."""
        if place is not Place.PREFERRED:
            return place.label
        attribution = f" {self.preferred_attribution}" if self.preferred_attribution else ""
        return f"{self.preferred_label}{attribution}"

    def capped(self, place: Place) -> Place:
        """A place after the setting's cap (``max_place``): an extrapolated setting prefers nothing."""
        if self.max_place is not None and place.rank < self.max_place.rank:
            return self.max_place
        return place


class SequencingRules(_Strict):
    settings: dict[SettingId, SettingRules]


class GateSource(_Strict):
    document: Literal["review", "policy"]
    section: str = Field(min_length=1)
    quote: str = Field(min_length=1)


class GateEffect(_Strict):
    severity: Severity
    place_cap: Place | None = None
    offer: bool = True


class GateDefinition(_Strict):
    """One safety gate or patient-specific rule (knowledge/gates.yaml); its logic is one registered function."""

    title: str
    source: GateSource
    scope: Literal["all", "checkpoint_inhibitors"] | tuple[str, ...]
    effect: GateEffect
    headline: bool = False
    # "selected_order": the gate reads the clinician's draft (its product), so it is checked on selected orders only.
    applies_to: Literal["regimen", "selected_order"] = "regimen"
    summary: str = Field(min_length=1, max_length=60)
    message: str = Field(min_length=1)
    scenarios: tuple[str, ...] = ()


class ChildPughThresholds(_Strict):
    bilirubin_mg_per_dl: tuple[Decimal, Decimal]
    albumin_g_per_dl: tuple[Decimal, Decimal]
    inr: tuple[Decimal, Decimal]
    class_b_from: int = Field(ge=6, le=15)
    class_c_from: int = Field(ge=7, le=15)

    @model_validator(mode="after")
    def _bands_ordered(self) -> ChildPughThresholds:
        """A site's inverted band (INR [2.3, 1.7]) would silently score every patient wrong: refuse it."""
        problems = [
            f"child_pugh.{name} must be [lower, upper] with lower below upper, got [{low}, {high}]"
            for name, (low, high) in (
                ("bilirubin_mg_per_dl", self.bilirubin_mg_per_dl),
                ("albumin_g_per_dl", self.albumin_g_per_dl),
                ("inr", self.inr),
            )
            if not low < high
        ]
        if not self.class_b_from < self.class_c_from:
            problems.append(
                f"child_pugh.class_b_from ({self.class_b_from}) must be below class_c_from ({self.class_c_from})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ExtraCodes(_Strict):
    hcc: tuple[str, ...] = ()
    organ_transplant: tuple[str, ...] = ()
    autoimmune_disease: tuple[str, ...] = ()
    hepatitis_b: tuple[str, ...] = ()
    ascites: tuple[str, ...] = ()
    hepatic_encephalopathy: tuple[str, ...] = ()


class ClinicalParameters(_Strict):
    """Parameters that change the advice (knowledge/parameters.yaml, then the site's overrides)."""

    afp_cutoff_ng_per_ml: Decimal = Field(gt=0)
    afp_max_age_days: int = Field(ge=1)
    afp_iu_per_ml_to_ng_per_ml: Decimal | None = Field(None, gt=0)
    line_grouping_days: int = Field(ge=0)
    current_line_days: int = Field(60, ge=1)
    liver_lab_max_age_days: int = Field(ge=1)
    ecog_trial_maximum: int = Field(ge=0, le=4)
    trial_minimum_age_years: int = Field(18, ge=0, le=120)
    pregnancy_test_max_age_days: int = Field(30, ge=1)
    child_pugh: ChildPughThresholds
    extra_codes: ExtraCodes = Field(default_factory=ExtraCodes)
    child_pugh_observation_code: str | None = Field(None, pattern=r"^\S+\|\S+$")


class CodeRef(_Strict):
    """One code of a value set (``code*``: every code under it). ``title`` is the code system's own title of the
    code (ICD-10-CM titles are checked against the code system in a test); ``unverified`` marks a code that
    cannot be checked against its code system here (SNOMED CT, LOINC): shown so on the decision table."""

    system: str
    code: str
    title: str | None = None
    unverified: bool = False


class QualifiedText(_Strict):
    """Text that counts only as a qualifier followed, within ``window_words`` words, by one of ``names``
    ("immune-mediated colitis", "immune-related grade 3 hepatitis")."""

    qualifiers: tuple[str, ...] = Field(min_length=1)
    names: tuple[str, ...] = Field(min_length=1)
    window_words: int = Field(2, ge=0, le=5)


class ConditionVocabulary(_Strict):
    codes: tuple[CodeRef, ...] = ()
    text: tuple[str, ...] = ()
    description: str | None = None
    source: str | None = None
    qualified_text: QualifiedText | None = None


class TextNotTheFinding(_Strict):
    """Cues that make a text match not a finding of this patient now (knowledge/conditions.yaml
    ``text_not_the_patients``, policy 6.5), for any caution or population: a family-history cue anywhere in
    the match's clause, or an immunization cue at most ``window_words`` words before or after it."""

    source: str
    cues: tuple[str, ...] = Field(min_length=1)
    immunization_cues: tuple[str, ...] = ()
    window_words: int = Field(3, ge=0, le=10)


class PlausibleRange(_Strict):
    low: Decimal
    high: Decimal


class PlausibleLabs(_Strict):
    """Policy 6.5: a value outside these ranges (in the standard unit) is not used."""

    source: str
    bilirubin_mg_per_dl: PlausibleRange
    albumin_g_per_dl: PlausibleRange
    inr: PlausibleRange


class ObservationCodes(_Strict):
    afp_mass: tuple[str, ...]
    afp_units: tuple[str, ...]
    bilirubin_total: tuple[str, ...]
    albumin: tuple[str, ...]
    inr: tuple[str, ...]
    ecog: tuple[str, ...]
    ecog_answers: dict[str, int] = {}
    pregnancy_test: tuple[str, ...] = ()
    positive_answers: tuple[str, ...] = ()
    plausible: PlausibleLabs | None = None


class TextNegation(_Strict):
    """NegEx-style negation of free-text matches (knowledge/conditions.yaml ``text_negation``).

    The project's choice, not the review's: a text match preceded in its clause by a pre-negation cue
    within ``window_words`` words does not count; pseudo-negation phrases are never cues; a termination
    word ends a cue's scope. Codes are never negated. ``post_negation`` cues ("HCC excluded on MRI"),
    within ``post_window_words`` words after a match, apply to the HCC diagnosis only (conditions.yaml).
    """

    source: str
    window_words: int = Field(ge=0, le=10)
    pre_negation: tuple[str, ...] = Field(min_length=1)
    pseudo_negation: tuple[str, ...] = ()
    termination: tuple[str, ...] = ()
    post_negation: tuple[str, ...] = ()
    post_window_words: int = Field(3, ge=0, le=10)
    post_termination: tuple[str, ...] = ()
    other_findings: tuple[str, ...] = ()


class TextHypothetical(_Strict):
    """ConText-style future/hypothetical cues (knowledge/conditions.yaml ``text_hypothetical``).

    The project's choice, not the review's: "awaiting liver transplant" or "liver transplant candidate"
    does not record a transplant. ``pre`` cues come before the match (within the negation window),
    ``post`` cues right after it (within ``post_window_words``); neither applies when the match is directly
    followed by a word of ``existing`` ("evaluation for transplant rejection"). Organ-transplant text only.
    ``pre`` cues reach at most ``window_words`` words; the negation's termination words and ``termination``
    end their scope ("awaiting biopsy of the liver transplant" is a transplant).
    """

    source: str
    window_words: int = Field(3, ge=0, le=10)
    termination: tuple[str, ...] = ()
    pre: tuple[str, ...] = Field(min_length=1)
    post: tuple[str, ...] = ()
    post_window_words: int = Field(1, ge=0, le=10)
    existing: tuple[str, ...] = ()
    existing_in_clause: tuple[str, ...] = ()


class ClinicalVocabulary(_Strict):
    """Codes and text the mapping layer recognises (knowledge/conditions.yaml)."""

    systems: dict[str, str]
    text_negation: TextNegation
    text_hypothetical: TextHypothetical
    hcc: ConditionVocabulary
    hcc_not_a_diagnosis: ConditionVocabulary
    hcc_not_current: ConditionVocabulary
    organ_transplant: ConditionVocabulary
    autoimmune_disease: ConditionVocabulary
    hepatitis_b: ConditionVocabulary
    ascites: ConditionVocabulary
    hepatic_encephalopathy: ConditionVocabulary
    observations: ObservationCodes
    text_not_the_patients: TextNotTheFinding | None = None
    not_the_patients: ConditionVocabulary = ConditionVocabulary()
    hcc_named_in_other_history: ConditionVocabulary = ConditionVocabulary()
    immune_toxicity: ConditionVocabulary = ConditionVocabulary()
    immunosuppressants: ConditionVocabulary = ConditionVocabulary()
    hbv_antivirals: ConditionVocabulary = ConditionVocabulary()
    pregnancy: ConditionVocabulary = ConditionVocabulary()
    fibrolamellar: ConditionVocabulary = ConditionVocabulary()

    def value_sets(self) -> dict[str, ConditionVocabulary]:
        """Every coded or text vocabulary by its name in conditions.yaml."""
        return {
            name: value
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), ConditionVocabulary)
        }

    @model_validator(mode="after")
    def _systems_known(self) -> ClinicalVocabulary:
        for vocab in self.value_sets().values():
            for ref in vocab.codes:
                if ref.system not in self.systems:
                    raise ValueError(f"unknown code system alias {ref.system}")
        return self


class ReviewInfo(_Strict):
    citation: str
    label: str
    published: str


class KnowledgeInfo(_Strict):
    name: str
    version: str = Field(pattern=r"^\d{4}\.\d{1,2}\.\d+$")
    date: date
    review: ReviewInfo


class Knowledge(_Strict):
    """The whole validated knowledge base."""

    info: KnowledgeInfo
    terminology: Terminology
    regimens: dict[str, Regimen]
    sequencing: SequencingRules
    gates: dict[str, GateDefinition]
    evidence: EvidenceCatalog
    vocabulary: ClinicalVocabulary
    medication_history: MedicationHistory
    parameters: ClinicalParameters
    site_parameters_hash: str | None = Field(None, pattern=r"^[0-9a-f]{8}$")
    pilot: PilotSwitches = Field(default_factory=PilotSwitches)
    release: Release | None = Field(None, description="This version's entry of releases.yaml (None: not locked).")

    @model_validator(mode="after")
    def _cross_references(self) -> Knowledge:
        problems: list[str] = []
        agents = self.terminology.agents
        for regimen_id, regimen in self.regimens.items():
            problems += [f"regimen {regimen_id}: unknown agent {a}" for a in regimen.agents if a not in agents]
        missing_settings = set(SettingId) - set(self.sequencing.settings)
        problems += [f"no rules for setting {s}" for s in sorted(missing_settings)]
        for gate_id, gate in self.gates.items():
            if not isinstance(gate.scope, str):
                problems += [f"gate {gate_id}: unknown regimen {r}" for r in gate.scope if r not in self.regimens]
        for setting_id, setting in self.sequencing.settings.items():
            for option in setting.options:
                where = f"setting {setting_id}, option {option.regimen}"
                if option.regimen not in self.regimens:
                    problems.append(f"{where}: unknown regimen")
                problems += [f"{where}: unknown trial {t}" for t in option.trials if t not in self.evidence.trials]
            base = setting.extrapolated_from
            if base is not None and not setting.options and not self.sequencing.settings.get(base, setting).options:
                problems.append(f"setting {setting_id}: extrapolated from {base}, which has no options")
        history = self.medication_history
        for product_id, product in history.products.items():
            if product.agent not in agents:
                problems.append(f"product {product_id}: unknown agent {product.agent}")
            else:
                unlisted = [c for c in product.rxnorm if c not in agents[product.agent].rxnorm]
                problems += [f"product {product_id}: code {c} is not listed for {product.agent}" for c in unlisted]
        problems += [f"hcc_products: unknown agent {a}" for a in history.hcc_products if a not in agents]
        for product_id, product in history.products.items():
            text = history.hcc_products.get(product.agent, "")
            named = [
                w for w in (*product.brands, *product.text) if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.I)
            ]
            problems += [f"hcc_products {product.agent}: names {w!r} of product {product_id}" for w in named]
        overlap = set(history.non_review_agents) & (set(agents) | set(self.terminology.other_agents))
        problems += [f"non-review agent {a} is also an agent of the terminology" for a in sorted(overlap)]
        for note in self.evidence.post_review_notes:
            problems += [f"post-review note: unknown regimen {r}" for r in note.regimens if r not in self.regimens]
            problems += [f"post-review note: unknown trial {t}" for t in note.trials if t not in self.evidence.trials]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def version(self) -> str:
        """The version on every card: the knowledge's, plus the hash of the site's parameter overrides."""
        suffix = f"+site.{self.site_parameters_hash}" if self.site_parameters_hash else ""
        return f"{self.info.version}{suffix}"

    def options_for(self, setting_id: SettingId) -> tuple[OptionRule, ...]:
        """The options of a setting: its own, or those of the setting it is extrapolated from."""
        setting = self.sequencing.settings[setting_id]
        if not setting.options and setting.extrapolated_from is not None:
            return self.sequencing.settings[setting.extrapolated_from].options
        return setting.options

    @cached_property
    def regimen_by_agents(self) -> dict[frozenset[str], str]:
        return {frozenset(r.agents): rid for rid, r in self.regimens.items() if r.agents}

    @cached_property
    def checkpoint_inhibitors(self) -> frozenset[str]:
        """Agents flagged ``immunotherapy`` in the terminology (PD-1, PD-L1 and CTLA-4 antibodies)."""
        return frozenset(a for a, spec in self.terminology.agents.items() if spec.immunotherapy)

    @cached_property
    def ctla4_inhibitors(self) -> frozenset[str]:
        return frozenset(a for a, spec in self.terminology.agents.items() if "CTLA-4" in spec.drug_class)

    def regimen_agents(self, regimen_id: str | None) -> frozenset[str]:
        return frozenset(self.regimens[regimen_id].agents) if regimen_id in self.regimens else frozenset()
