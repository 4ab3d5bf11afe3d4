"""The compact facts builders and the project's synthetic patient builder describe the same patients: the
engine gives the same setting, places and gates whether its input was built as facts or read by the mapper
from the FHIR resources of cds_service/devtools/patients.py."""

from __future__ import annotations

from datetime import date

import pytest

from cds_service.devtools.patients import (
    Afp,
    Albumin,
    Bilirubin,
    ConditionEntry,
    Inr,
    Labs,
    PriorLine,
    SyntheticPatient,
)
from cds_service.facts import PatientFacts, StopReason
from cds_service.knowledge import Knowledge
from cds_service.sequencing.engine import Recommendation, recommend
from tests.sequencing.builders import TODAY, afp, facts, line, mapped

HCC = ConditionEntry(text="Hepatocellular carcinoma", system="icd10cm", code="C22.0")
LABS_DAY = date(2026, 11, 15)
NORMAL_LABS = Labs(
    bilirubin=Bilirubin(value=1.0, date=LABS_DAY),
    albumin=Albumin(value=4.0, date=LABS_DAY),
    inr=Inr(value=1.0, date=LABS_DAY),
)


def _line(*agents: str, stop: str) -> PriorLine:
    return PriorLine.model_validate({"agents": agents, "start": "2025-03-15", "end": "2026-09-30", "stop_reason": stop})


CASES: dict[str, tuple[PatientFacts, SyntheticPatient]] = {
    "after sorafenib, AFP 1250": (
        facts(line(1, "sorafenib"), afp_result=afp(1250)),
        SyntheticPatient(
            diagnoses=[HCC],
            prior_lines=[_line("sorafenib", stop="progression")],
            afp=Afp(value=1250, date=LABS_DAY),
            labs=NORMAL_LABS,
        ),
    ),
    "sorafenib intolerance, AFP 35": (
        facts(line(1, "sorafenib", stop=StopReason.INTOLERANCE), afp_result=afp(35)),
        SyntheticPatient(
            diagnoses=[HCC],
            prior_lines=[_line("sorafenib", stop="intolerance")],
            afp=Afp(value=35, date=LABS_DAY),
            labs=NORMAL_LABS,
        ),
    ),
    "after atezolizumab + bevacizumab, AFP 820": (
        facts(line(1, "atezolizumab", "bevacizumab"), afp_result=afp(820)),
        SyntheticPatient(
            diagnoses=[HCC],
            prior_lines=[_line("atezolizumab", "bevacizumab", stop="progression")],
            afp=Afp(value=820, date=LABS_DAY),
            labs=NORMAL_LABS,
        ),
    ),
    "no prior therapy, AFP 40": (
        facts(afp_result=afp(40)),
        SyntheticPatient(diagnoses=[HCC], afp=Afp(value=40, date=LABS_DAY), labs=NORMAL_LABS),
    ),
}


def _decision(rec: Recommendation) -> tuple[object, ...]:
    places = {o.regimen_id: o.place for o in rec.options}
    gates = {f.gate_id for o in rec.options for f in o.findings}
    return rec.applicable, rec.setting, places, gates


@pytest.mark.parametrize("case", sorted(CASES))
def test_both_builders_give_the_engine_the_same_patient(knowledge: Knowledge, case: str) -> None:
    built, synthetic = CASES[case]
    from_facts = recommend(built, knowledge, today=TODAY)
    from_fhir = recommend(mapped(synthetic, knowledge), knowledge, today=TODAY)
    assert _decision(from_facts) == _decision(from_fhir)
