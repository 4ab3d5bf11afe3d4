"""Mapping never raises, whatever resource-shaped JSON arrives (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.knowledge import load_knowledge
from cds_service.mapping.patient import PatientMapper

MAPPER = PatientMapper(load_knowledge())
RESOURCE_TYPES = [
    "Condition",
    "Observation",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationAdministration",
    "Medication",
    "Patient",
    "Bundle",
    "OperationOutcome",
    "Unknown",
]
FIELDS = [
    "id",
    "status",
    "code",
    "subject",
    "patient",
    "clinicalStatus",
    "verificationStatus",
    "severity",
    "valueQuantity",
    "valueString",
    "valueInteger",
    "valueCodeableConcept",
    "effectiveDateTime",
    "effectivePeriod",
    "issued",
    "medicationCodeableConcept",
    "medicationReference",
    "statusReason",
    "authoredOn",
    "dispenseRequest",
    "contained",
    "ingredient",
    "entry",
    "onsetDateTime",
    "coding",
    "text",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "final",
            "draft",
            "active",
            "C22.0",
            "1834-1",
            "http://loinc.org",
            "ng/mL",
            ">2000",
            "2025-01-01",
            "Patient/p1",
            "#m",
            "sorafenib",
            "266721009",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from([*FIELDS, "system", "value", "unit", "reference", "start", "end", "comparator"]),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": draw(st.sampled_from(RESOURCE_TYPES))}
    resource.update(draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)))
    return resource


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=5),
        st.one_of(
            json_values,
            resources(),
            st.lists(resources(), max_size=5).map(
                lambda rs: {"resourceType": "Bundle", "entry": [{"resource": r} for r in rs]}
            ),
        ),
        max_size=4,
    ),
    st.booleans(),
    st.booleans(),
)
def test_mapping_never_raises(values: dict[str, Any], conditions: bool, medications: bool) -> None:
    MAPPER.map_facts(values, "p1", conditions_available=conditions, medications_available=medications)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(json_values, st.one_of(st.none(), st.lists(st.text(max_size=20), max_size=3)))
def test_draft_order_mapping_never_raises(draft_orders: Any, selections: list[str] | None) -> None:
    MAPPER.map_draft_orders(draft_orders, selections)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(resources(), max_size=4), st.lists(st.text(max_size=30), max_size=2))
def test_draft_bundle_of_arbitrary_orders_never_raises(orders: list[dict[str, Any]], selections: list[str]) -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [{"resource": {**o, "resourceType": "MedicationRequest"}} for o in orders],
    }
    MAPPER.map_draft_orders(bundle, selections or None)
