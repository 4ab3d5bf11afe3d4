"""The value sets of knowledge/conditions.yaml against a real code system, and each entry proved needed.

- Every ICD-10-CM code of the knowledge exists in the ICD-10-CM release of the `simple-icd-10-cm` package
  and carries that release's title; the title names the value set's intent. A code that cannot be checked
  (SNOMED CT, or an ICD-10-CM code missing from that release) is marked ``unverified`` and shown so on the
  decision table (clinical-sequencing.md 6.5; issue 24).
- Mutation-style: removing any single entry (a code or a text word) of a value set changes the answer for at
  least one of the realistic probes below, so no entry is dead and each is covered by a test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import simple_icd_10_cm as icd

from cds_service.facts import CautionKind, DiagnosisStatus, MedicationKind, PopulationKind
from cds_service.knowledge import ClinicalVocabulary, CodeRef, ConditionVocabulary, Knowledge, load_knowledge
from cds_service.mapping.conditions import ConditionMapper
from cds_service.mapping.current_medications import CurrentMedicationMapper
from cds_service.mapping.fhir import Parser
from cds_service.mapping.resources import collect_resources
from cds_service.sequencing.table import decision_table_markdown

KNOWLEDGE = load_knowledge()
VOCABULARY = KNOWLEDGE.vocabulary
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"

# What each value set's ICD-10-CM titles must name (the intent of the set, clinical-sequencing.md 6.2 and 6.5).
INTENT = {
    "hcc": r"liver cell carcinoma",
    "hcc_not_a_diagnosis": r"family history|screening",
    "organ_transplant": r"transplant",
    "autoimmune_disease": (
        r"rheumatoid|juvenile arthritis|lupus|polyarteritis|wegener|takayasu|arteritis|polyangiitis|allergic purpura|"
        r"beh[cç]et|psoriasis|crohn|ulcerative colitis|autoimmune|diffuse goiter|multiple sclerosis|myasthenia|"
        r"biliary cirrhosis|type 1 diabetes|sarcoidosis|sj[oö]gren|systemic sclerosis|dermatopolymyositis|celiac"
    ),
    "hepatitis_b": r"hepatitis b",
    "immune_toxicity": r"immune checkpoint inhibitors",
    "not_the_patients": r"family history|immunization|awaiting organ transplant",
    "pregnancy": r"pregnan",
    "ascites": r"ascites",
    "hepatic_encephalopathy": r"hepatic encephalopathy",
}


def _icd_base(code: str) -> str:
    return code.rstrip("*").rstrip(".")


def _icd_codes() -> list[tuple[str, CodeRef]]:
    return [
        (name, ref) for name, vocab in VOCABULARY.value_sets().items() for ref in vocab.codes if ref.system == "icd10cm"
    ]


@pytest.mark.parametrize(("value_set", "ref"), _icd_codes(), ids=lambda v: v.code if isinstance(v, CodeRef) else v)
def test_every_icd10cm_code_exists_with_its_title_and_names_the_intent(value_set: str, ref: CodeRef) -> None:
    base = _icd_base(ref.code)
    if ref.unverified:
        assert not icd.is_valid_item(base), (
            f"{ref.code} is in the code system: check it instead of marking it unverified"
        )
        return
    assert icd.is_valid_item(base), f"{ref.code} ({value_set}) is not an ICD-10-CM code"
    title = icd.get_description(base)
    assert ref.title == title, f"{ref.code}: the knowledge says {ref.title!r}, ICD-10-CM says {title!r}"
    assert re.search(INTENT[value_set], title, re.IGNORECASE), f"{ref.code} {title!r} is not {value_set}"


def test_every_code_has_a_title_and_every_unchecked_code_is_marked_unverified() -> None:
    for name, vocab in VOCABULARY.value_sets().items():
        for ref in vocab.codes:
            assert ref.title, f"{name}: {ref.code} has no title"
            if ref.system != "icd10cm":
                assert ref.unverified, f"{name}: {ref.system} {ref.code} cannot be checked here: mark it unverified"


def test_the_decision_table_shows_every_value_set_code_and_marks_the_unverified_ones() -> None:
    table = decision_table_markdown(KNOWLEDGE)
    for vocab in VOCABULARY.value_sets().values():
        for ref in vocab.codes:
            shown = f"`{ref.code}` {ref.title} (unverified)" if ref.unverified else f"`{ref.code}` {ref.title}"
            assert shown in table


# --- Mutation-style: every entry is needed by a probe ------------------------------------------------------


def condition(text: str | None = None, code: tuple[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if text is not None:
        concept["text"] = text
    if code is not None:
        concept["coding"] = [{"system": code[0], "code": code[1]}]
    return {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}, "code": concept, **extra}


CONFIRMED = {"verificationStatus": {"coding": [{"code": "confirmed"}]}}


def _child(code: str) -> str:
    """A real code under an ICD-10-CM prefix (the prefix itself when it is a leaf)."""
    base = _icd_base(code)
    children = icd.get_children(base) if code.endswith("*") else []
    return children[0] if children else base


def _coded_probes(value_set: str, extra: dict[str, Any] | None = None, text: str | None = None) -> list[dict[str, Any]]:
    systems = {"icd10cm": ICD10CM, "snomed": SNOMED}
    probes = []
    for ref in VOCABULARY.value_sets()[value_set].codes:
        code = _child(ref.code) if ref.system == "icd10cm" else ref.code
        probes.append(condition(text, (systems[ref.system], code), **(extra or {})))
    return probes


# Realistic text probes, one or more for each text entry of each value set.
TEXT_PROBES: dict[str, list[str]] = {
    "organ_transplant": [
        "Liver transplant 2019",
        "s/p OLT 2019",
        "OLTx 2018",
        "Orthotopic liver graft 2017",
        "Hepatic allograft",
        "No evidence of rejection of transplanted liver",
        "Kidney transplantation 2010",
    ],
    "autoimmune_disease": [
        "Autoimmune thyroid disease",
        "Systemic lupus",
        "Rheumatoid arthritis",
        "Crohn's disease",
        "Crohn disease of ileum",
        "Ulcerative colitis",
        "Inflammatory bowel disease",
        "Multiple sclerosis",
        "Myasthenia gravis",
        "Psoriasis",
        "Psoriatic arthritis",
        "ANCA vasculitis",
        "Granulomatosis with polyangiitis",
        "Wegener's granulomatosis",
        "Microscopic polyangiitis",
        "Hashimoto thyroiditis",
        "Graves disease",
        "Graves' disease",
        "Type 1 diabetes",
        "Pulmonary sarcoidosis",
    ],
    "hepatitis_b": ["Chronic hepatitis B", "HBV infection", "HBsAg positive carrier"],
    "immune_toxicity": [
        "irAE colitis",
        "irAEs on nivolumab",
        "Grade 3 immune-mediated colitis",
        "Immune mediated hepatitis",
        "Immune-related pneumonitis",
        "Immune related nephritis",
        "immune-related grade 2 myocarditis",
        "immune-mediated hypophysitis",
        "immune-related thyroiditis",
        "immune-mediated dermatitis",
        "immune-related rash",
        "immune-mediated diarrhoea",
        "immune-mediated diarrhea",
        "immune-mediated adrenalitis",
        "immune-related adrenal insufficiency",
        "immune-mediated encephalitis",
        "immune-related myositis",
        "immune-related uveitis",
        "immune-mediated pancreatitis",
        "immune-related neuropathy",
        "immune-related arthritis",
        "immune-mediated diabetes",
        "immune-related toxicity",
        "immune-related adverse event",
        "immune-related adverse reaction",
    ],
    "pregnancy": ["Pregnant, 12 weeks", "Pregnancy"],
    "fibrolamellar": ["Fibrolamellar carcinoma of the liver"],
    "hcc": ["Hepatocellular carcinoma", "HCC, multifocal", "Hepatoma", "Liver cell carcinoma"],
    "hcc_not_current": [
        "HCC, no recurrence",
        "HCC, no evidence of recurrence",
        "HCC resected without recurrence",
        "HCC recurrence-free",
        "HCC recurrence free",
        "HCC with no evidence of disease",
        "HCC disease-free",
        "HCC disease free",
        "HCC in remission",
    ],
    "hcc_named_in_other_history": [
        "Liver transplant 2015 for HCC",
        "Hepatectomy due to HCC",
        "Liver resection because of HCC",
        "Portal vein thrombosis secondary to HCC",
        "TACE (indication HCC)",
    ],
    "hcc_not_a_diagnosis": [
        "Family history of liver cancer",
        "History in family of liver cancer",
        "Screening for liver cancer",
        "Liver cancer surveillance",
        "Suspected liver cancer",
        "Suspicion of liver cancer",
        "Possible liver cancer",
        "Probable liver cancer",
        "Rule out liver cancer",
        "Liver cancer ruled out",
        "R/O liver cancer",
        "Risk of liver cancer",
        "At risk: liver cancer",
        "Query liver cancer",
        "Questionable liver cancer",
        "Liver cancer not excluded",
        "Liver cancer cannot be excluded",
        "Liver cancer can not be excluded",
    ],
    "ascites": ["Ascites"],
    "hepatic_encephalopathy": ["Hepatic encephalopathy", "Portosystemic encephalopathy"],
    "immunosuppressants": [
        "tacrolimus 1 MG",
        "ciclosporin",
        "cyclosporine",
        "cyclosporin",
        "mycophenolate mofetil",
        "mycophenolic acid",
        "sirolimus",
        "everolimus",
        "azathioprine",
    ],
    "hbv_antivirals": ["entecavir", "tenofovir disoproxil"],
    "not_the_patients": [],
}

Outcome = Callable[[ClinicalVocabulary, dict[str, Any]], object]


def _conditions(vocabulary: ClinicalVocabulary, raw: dict[str, Any]) -> Any:
    mapper = ConditionMapper(vocabulary, KNOWLEDGE.parameters.extra_codes)
    return mapper.map([raw], data_available=True, parser=Parser([]))


def _cautions(vocabulary: ClinicalVocabulary, raw: dict[str, Any]) -> object:
    return sorted(c.kind.value for c in _conditions(vocabulary, raw).cautions)


def _populations(vocabulary: ClinicalVocabulary, raw: dict[str, Any]) -> object:
    return sorted(p.kind.value for p in _conditions(vocabulary, raw).populations)


def _hcc(vocabulary: ClinicalVocabulary, raw: dict[str, Any]) -> object:
    return _conditions(vocabulary, raw).hcc.status is DiagnosisStatus.PRESENT


def _liver(vocabulary: ClinicalVocabulary, raw: dict[str, Any]) -> object:
    facts = _conditions(vocabulary, raw)
    return (facts.ascites is not None, facts.encephalopathy is not None)


def _medications(vocabulary: ClinicalVocabulary, raw: dict[str, Any]) -> object:
    mapper = ConditionMapper(vocabulary, KNOWLEDGE.parameters.extra_codes)
    pool = collect_resources({"m": raw}, "p1")
    return sorted(m.kind.value for m in CurrentMedicationMapper(vocabulary, mapper.immune_toxicity).map(pool))


def _statement(text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": "m1",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": text},
    }


# How each value set is observed, and its probes: its codes (a real code under each prefix) and its texts.
def _probes(value_set: str) -> tuple[Outcome, list[dict[str, Any]]]:
    texts = TEXT_PROBES[value_set]
    if value_set in ("immunosuppressants", "hbv_antivirals"):
        return _medications, [_statement(t) for t in texts]
    if value_set == "not_the_patients":
        # A family-history / immunization / awaiting-transplant code beside a caution's text: never a caution.
        return _cautions, _coded_probes(value_set, text="Rheumatoid arthritis; hepatitis B; liver transplant")
    if value_set in ("pregnancy", "fibrolamellar"):
        return _populations, _coded_probes(value_set) + [condition(t) for t in texts]
    if value_set in ("hcc", "hcc_not_current", "hcc_named_in_other_history"):
        return _hcc, _coded_probes(value_set, CONFIRMED) + [condition(t) for t in texts]
    if value_set == "hcc_not_a_diagnosis":
        # Codes: a family-history or screening code beside C22.0. Text: an unconfirmed C22.0 entry (a confirmed
        # one counts whatever its text says, policy 6.5).
        coded = [
            condition("Liver cell carcinoma", code=None, **CONFIRMED)
            | {
                "code": {
                    "coding": [{"system": ICD10CM, "code": "C22.0"}, {"system": ICD10CM, "code": _child(ref.code)}]
                }
            }
            for ref in VOCABULARY.hcc_not_a_diagnosis.codes
        ]
        texts_coded = [condition(t, (ICD10CM, "C22.0")) for t in texts]
        return _hcc, coded + texts_coded
    if value_set in ("ascites", "hepatic_encephalopathy"):
        return _liver, _coded_probes(value_set) + [condition(t) for t in texts]
    return _cautions, _coded_probes(value_set) + [condition(t) for t in texts]


def _without(
    vocabulary: ClinicalVocabulary, value_set: str, *, code: str | None = None, text: str | None = None
) -> Any:
    vocab: ConditionVocabulary = getattr(vocabulary, value_set)
    reduced = vocab.model_copy(
        update={
            "codes": tuple(r for r in vocab.codes if r.code != code),
            "text": tuple(t for t in vocab.text if t != text),
        }
    )
    return vocabulary.model_copy(update={value_set: reduced})


def _entries() -> list[tuple[str, str, str]]:
    entries = []
    for name, vocab in VOCABULARY.value_sets().items():
        entries += [(name, "code", ref.code) for ref in vocab.codes]
        entries += [(name, "text", word) for word in vocab.text]
    return entries


@pytest.mark.parametrize(("value_set", "kind", "entry"), _entries(), ids=lambda v: str(v))
def test_removing_any_value_set_entry_changes_an_answer(value_set: str, kind: str, entry: str) -> None:
    """Mutation-style (issue 24): each entry is needed; a probe that it alone decides reads differently without it."""
    outcome, probes = _probes(value_set)
    mutated = _without(
        VOCABULARY, value_set, code=entry if kind == "code" else None, text=entry if kind == "text" else None
    )
    changed = [p for p in probes if outcome(VOCABULARY, p) != outcome(mutated, p)]
    assert changed, f"removing {kind} {entry!r} from {value_set} changes no probe: add a probe or drop the entry"


def test_the_probes_read_as_the_value_set_says(knowledge: Knowledge) -> None:
    """The probes themselves: each reads as its value set intends with the full knowledge."""
    expected = {
        "organ_transplant": [CautionKind.ORGAN_TRANSPLANT.value],
        "autoimmune_disease": [CautionKind.AUTOIMMUNE_DISEASE.value],
        "hepatitis_b": [CautionKind.HEPATITIS_B.value],
        "immune_toxicity": [CautionKind.IMMUNE_TOXICITY.value],
        "pregnancy": [PopulationKind.PREGNANCY.value],
        "fibrolamellar": [PopulationKind.FIBROLAMELLAR.value],
        "immunosuppressants": [MedicationKind.IMMUNOSUPPRESSANT.value],
        "hbv_antivirals": [MedicationKind.HBV_ANTIVIRAL.value],
        "not_the_patients": [],
        "hcc": True,
        "hcc_not_current": False,
        "hcc_named_in_other_history": False,
        "hcc_not_a_diagnosis": False,
    }
    for value_set, wanted in expected.items():
        outcome, probes = _probes(value_set)
        for probe in probes:
            if value_set in ("hcc_not_current", "hcc_named_in_other_history") and probe["code"].get("coding"):
                continue  # their coded probes are confirmed HCC codes of the hcc value set (none in these sets)
            assert outcome(knowledge.vocabulary, probe) == wanted, (value_set, probe["code"])
