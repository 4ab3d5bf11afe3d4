"""The clinical knowledge base: versioned YAML files in ``cds_service/knowledge``, validated once at load.

An unknown regimen, agent, trial or rule in any file is a start-up error (``KnowledgeError``), never a
runtime surprise. Every option and rule must cite the review's section it rests on.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import cached_property
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

KNOWLEDGE_PACKAGE = "cds_service.knowledge"


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
        return list(Place).index(self)

    @property
    def label(self) -> str:
        return _PLACE_LABELS[self]


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
    RETROSPECTIVE = "retrospective"
    NONE = "none"

    @property
    def label(self) -> str:
        return _EVIDENCE_LABELS[self]


_EVIDENCE_LABELS = {
    EvidenceLevel.PHASE3: "phase III randomized (level 1)",
    EvidenceLevel.PHASE2_ACCELERATED_APPROVAL: "phase I/II with FDA accelerated approval",
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


class RuleId(StrEnum):
    ALREADY_RECEIVED = "already_received"
    REQUIRES_SORAFENIB_TOLERANCE = "requires_sorafenib_tolerance"
    AFP_AT_LEAST_CUTOFF = "afp_at_least_cutoff"
    NOT_AFTER_BEVACIZUMAB = "not_after_bevacizumab"
    IMMUNOTHERAPY_CAUTIONS = "immunotherapy_cautions"
    CHILD_PUGH = "child_pugh"


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
    date: str = Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")
    regimens: tuple[str, ...]
    trials: tuple[str, ...] = ()
    text: str


class EvidenceCatalog(_Strict):
    trials: dict[str, Trial]
    post_review_notes: tuple[PostReviewNote, ...]


class Agent(_Strict):
    drug_class: str
    names: tuple[str, ...] = Field(min_length=1)
    brands: tuple[str, ...] = ()
    rxnorm: tuple[str, ...] = ()
    rxnorm_ingredient: str | None = None
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
            for code in agent.rxnorm:
                if code in seen:
                    raise ValueError(f"RxNorm code {code} listed for both {seen[code]} and {agent_id}")
                seen[code] = agent_id
            for other in agent.also_contains:
                if other not in self.agents:
                    raise ValueError(f"{agent_id}: also_contains names unknown agent {other}")
        return self


class Regimen(_Strict):
    label: str
    agents: tuple[str, ...]


class OptionRule(_Strict):
    regimen: str
    place: Place
    evidence: EvidenceLevel
    trials: tuple[str, ...] = ()
    rationale: str
    source: SourceRef
    rules: tuple[RuleId, ...] = ()


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

    @model_validator(mode="after")
    def _options_or_extrapolation(self) -> SettingRules:
        if bool(self.options) == bool(self.extrapolated_from):
            raise ValueError("a setting has either its own options or extrapolated_from, not both")
        if self.extrapolated_from and not self.extrapolation_note:
            raise ValueError("an extrapolated setting must say so (extrapolation_note)")
        return self


class RuleDefinition(_Strict):
    description: str
    source: SourceRef
    applies_to: Literal["all"] | None = None


class SequencingRules(_Strict):
    settings: dict[SettingId, SettingRules]
    rules: dict[RuleId, RuleDefinition]


class CodeRef(_Strict):
    system: str
    code: str


class ConditionVocabulary(_Strict):
    codes: tuple[CodeRef, ...] = ()
    text: tuple[str, ...] = ()
    description: str | None = None


class ObservationCodes(_Strict):
    afp_mass: tuple[str, ...]
    afp_units: tuple[str, ...]
    bilirubin_total: tuple[str, ...]
    albumin: tuple[str, ...]
    inr: tuple[str, ...]
    ecog: tuple[str, ...]


class ClinicalVocabulary(_Strict):
    """Codes and text the mapping layer recognises (knowledge/conditions.yaml)."""

    systems: dict[str, str]
    hcc: ConditionVocabulary
    organ_transplant: ConditionVocabulary
    autoimmune_disease: ConditionVocabulary
    ascites: ConditionVocabulary
    hepatic_encephalopathy: ConditionVocabulary
    observations: ObservationCodes

    @model_validator(mode="after")
    def _systems_known(self) -> ClinicalVocabulary:
        for vocab in (
            self.hcc,
            self.organ_transplant,
            self.autoimmune_disease,
            self.ascites,
            self.hepatic_encephalopathy,
        ):
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
    evidence: EvidenceCatalog
    vocabulary: ClinicalVocabulary

    @model_validator(mode="after")
    def _cross_references(self) -> Knowledge:
        problems: list[str] = []
        agents = self.terminology.agents
        for regimen_id, regimen in self.regimens.items():
            problems += [f"regimen {regimen_id}: unknown agent {a}" for a in regimen.agents if a not in agents]
        missing_settings = set(SettingId) - set(self.sequencing.settings)
        problems += [f"no rules for setting {s}" for s in sorted(missing_settings)]
        missing_rules = set(RuleId) - set(self.sequencing.rules)
        problems += [f"rule {r} has no definition" for r in sorted(missing_rules)]
        for setting_id, setting in self.sequencing.settings.items():
            for option in setting.options:
                where = f"setting {setting_id}, option {option.regimen}"
                if option.regimen not in self.regimens:
                    problems.append(f"{where}: unknown regimen")
                problems += [f"{where}: unknown trial {t}" for t in option.trials if t not in self.evidence.trials]
            base = setting.extrapolated_from
            if base is not None and not self.sequencing.settings.get(base, setting).options:
                problems.append(f"setting {setting_id}: extrapolated from {base}, which has no options")
        for note in self.evidence.post_review_notes:
            problems += [f"post-review note: unknown regimen {r}" for r in note.regimens if r not in self.regimens]
            problems += [f"post-review note: unknown trial {t}" for t in note.trials if t not in self.evidence.trials]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def options_for(self, setting_id: SettingId) -> tuple[OptionRule, ...]:
        """The options of a setting, following ``extrapolated_from``."""
        setting = self.sequencing.settings[setting_id]
        if setting.extrapolated_from is not None:
            return self.sequencing.settings[setting.extrapolated_from].options
        return setting.options

    @cached_property
    def regimen_by_agents(self) -> dict[frozenset[str], str]:
        return {frozenset(r.agents): rid for rid, r in self.regimens.items() if r.agents}

    @cached_property
    def global_rules(self) -> frozenset[RuleId]:
        """The rules that apply to every option (``applies_to: all``)."""
        return frozenset(r for r, d in self.sequencing.rules.items() if d.applies_to == "all")


def _read_yaml(name: str) -> Any:
    text = resources.files(KNOWLEDGE_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_knowledge() -> Knowledge:
    """Read and validate every knowledge file; raise ``KnowledgeError`` naming each problem."""
    try:
        regimens = _read_yaml("regimens.yaml")["regimens"]
        return Knowledge.model_validate(
            {
                "info": _read_yaml("knowledge.yaml"),
                "terminology": _read_yaml("terminology.yaml"),
                "regimens": regimens,
                "sequencing": _read_yaml("rules.yaml"),
                "evidence": _read_yaml("evidence.yaml"),
                "vocabulary": _read_yaml("conditions.yaml"),
            }
        )
    except (ValidationError, yaml.YAMLError, OSError, KeyError, TypeError) as exc:
        raise KnowledgeError(f"knowledge base is invalid: {exc}") from exc
