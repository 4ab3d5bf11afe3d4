"""A patient's AFP and liver-lab history: every result, each read by the same code the rules read the latest with.

The rules read one AFP and the latest bilirubin, albumin and INR (``observations``). The timeline app shows
the course, so each result is read alone by those same functions (an index holding that one Observation):
its value, unit, conversion and comparability are exactly what the rules would make of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.facts import AfpResult, LabValue
from cds_service.knowledge import Knowledge
from cds_service.mapping.fhir import Parser
from cds_service.mapping.observations import ObservationIndex, latest_afp, map_liver_labs
from cds_service.mapping.resources import collect_resources


@dataclass(frozen=True, slots=True)
class LiverLabReading:
    """One result of a liver lab, in the unit the Child-Pugh score uses."""

    name: str  # "bilirubin", "albumin", "INR" (the names the Child-Pugh assessment uses)
    lab: LabValue


@dataclass(frozen=True, slots=True)
class ObservationHistory:
    """Every usable AFP result and liver-lab result of the chart, oldest first."""

    afp: tuple[AfpResult, ...]
    liver_labs: tuple[LiverLabReading, ...]


def observation_history(values: Mapping[str, Any], patient_id: str, knowledge: Knowledge) -> ObservationHistory:
    """AFP and liver-lab results over time (results without a value or a date are left out, as the rules do)."""
    pool = collect_resources(values, patient_id)
    vocabulary = knowledge.vocabulary
    factor = knowledge.parameters.afp_iu_per_ml_to_ng_per_ml
    afp: list[AfpResult] = []
    labs: list[LiverLabReading] = []
    for raw in pool.of_type("Observation"):
        single = ObservationIndex([raw])
        parser = Parser([])
        result = latest_afp(single, vocabulary, factor, parser)
        if result is not None:
            afp.append(result)
        for name, lab in zip(("bilirubin", "albumin", "INR"), map_liver_labs(single, vocabulary, parser), strict=True):
            if lab is not None:
                labs.append(LiverLabReading(name, lab))
    afp.sort(key=lambda r: (r.effective is None, r.effective, r.source.reference))
    labs.sort(key=lambda r: (r.lab.effective is None, r.lab.effective, r.name))
    return ObservationHistory(tuple(afp), tuple(labs))
