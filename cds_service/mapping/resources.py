"""Flatten FHIR data of a hook call into one pool of raw resources belonging to the patient.

Accepts what prefetch values look like in practice: searchset/collection/transaction Bundles (with or
without ``type``), a single resource, ``null``, an empty Bundle, or an OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cds_service.facts import DataQualityNote

JsonObject = dict[str, Any]


def as_list(value: Any) -> list[Any]:
    """A JSON array as a list; anything else (missing, an object, a scalar) as no items or one."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def resource_reference(resource: Mapping[str, Any]) -> str:
    """``Type/id`` of a raw resource (``Type`` alone when it has no id)."""
    rtype = str(resource.get("resourceType", "Resource"))
    rid = resource.get("id")
    return f"{rtype}/{rid}" if isinstance(rid, str) and rid else rtype


def contained_resource(container: Mapping[str, Any], reference: str) -> JsonObject | None:
    """The resource a ``#id`` reference names inside ``container.contained``."""
    for contained in as_list(container.get("contained")):
        if isinstance(contained, dict) and contained.get("id") == reference[1:]:
            return contained
    return None


@dataclass
class ResourcePool:
    """The patient's resources by type, plus an index to resolve references (``Type/id`` and fullUrl)."""

    patient_id: str
    by_type: dict[str, list[JsonObject]] = field(default_factory=dict)
    index: dict[str, JsonObject] = field(default_factory=dict)
    patient_aliases: set[str] = field(default_factory=set)
    notes: list[DataQualityNote] = field(default_factory=list)
    _owned: dict[str, list[JsonObject]] = field(default_factory=dict, init=False, repr=False)

    def of_type(self, resource_type: str) -> list[JsonObject]:
        """This patient's resources of a type (others are left out with a note); each type is sorted out once."""
        found = self._owned.get(resource_type)
        if found is None:
            found = self._owned[resource_type] = [r for r in self.by_type.get(resource_type, []) if self.owned(r)]
        return found

    def owned(self, resource: JsonObject) -> bool:
        """True when the resource is this patient's; otherwise note it once and return False."""
        subject = resource.get("subject")
        if type(subject) is dict:
            reference = subject.get("reference")
            if type(reference) is str and reference in self.patient_aliases:
                return True  # the common case first: ``subject`` names this patient as the bundle does
        if resource["resourceType"] == "Patient":
            mine = resource.get("id") in (None, self.patient_id)
        else:
            mine = self.belongs_to_patient(_subject_reference(resource))
        if not mine:
            self.notes.append(DataQualityNote(resource_reference(resource), "belongs to another patient; left out"))
        return mine

    def resolve(self, reference: str, container: Mapping[str, Any] | None = None) -> JsonObject | None:
        """Resolve a reference to a contained resource (``#id``), a bundle entry, or ``Type/id``."""
        if reference.startswith("#") and container is not None:
            return contained_resource(container, reference)
        if reference in self.index:
            return self.index[reference]
        parts = reference.rstrip("/").split("/")
        return self.index.get("/".join(parts[-2:])) if len(parts) >= 2 else None

    def belongs_to_patient(self, reference: str | None) -> bool:
        """True when the reference names this patient (relative, absolute, or the bundle's urn:uuid)."""
        if reference is None:
            return True
        if reference in self.patient_aliases:
            return True
        parts = reference.rstrip("/").split("/")
        return len(parts) >= 2 and parts[-2] == "Patient" and parts[-1] == self.patient_id


_SUBJECT_FIELDS = ("subject", "patient")


def _subject_reference(resource: Mapping[str, Any]) -> str | None:
    for name in _SUBJECT_FIELDS:
        value = resource.get(name)
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            return str(value["reference"])
    return None


def _entries(value: Any, key: str, notes: list[DataQualityNote]) -> Iterable[tuple[str | None, JsonObject]]:
    if value is None:
        return
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        notes.append(DataQualityNote(key, "prefetch value is not a FHIR resource; ignored"))
        return
    if value["resourceType"] != "Bundle":
        yield None, value
        return
    entries = value.get("entry")
    if entries is None:
        return
    if not isinstance(entries, list):
        notes.append(DataQualityNote(key, "Bundle.entry is not a list; ignored"))
        return
    for position, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            notes.append(DataQualityNote(f"{key} entry {position}", "entry has no resource; ignored"))
            continue
        full_url = entry.get("fullUrl")
        yield (full_url if isinstance(full_url, str) else None), resource


# Resources the rules reach through references (medicationReference); only these are indexed.
REFERENCED_TYPES = frozenset({"Medication"})
# Types ``collect_resources`` does more with than pool them by type.
_SPECIAL_TYPES = REFERENCED_TYPES | {"Patient", "OperationOutcome"}


def collect_resources(values: Mapping[str, Any], patient_id: str) -> ResourcePool:
    """Pool the resources of every prefetch value by type, in one pass.

    Whether a resource belongs to this patient is checked when a rule reads it (``ResourcePool.owned``):
    the many resources no rule reads cost one list append each.
    """
    pool = ResourcePool(patient_id=patient_id, patient_aliases={f"Patient/{patient_id}"})
    by_type = pool.by_type
    for key, value in values.items():
        entries = value.get("entry") if type(value) is dict and value.get("resourceType") == "Bundle" else None
        if type(entries) is not list:
            for full_url, found in _entries(value, key, pool.notes):
                _pool(pool, full_url, found)
            continue
        last_type, bucket = None, []  # a bundle's entries are mostly of one type
        for position, entry in enumerate(entries):
            resource: Any = entry.get("resource") if isinstance(entry, dict) else None
            rtype = resource.get("resourceType") if isinstance(resource, dict) else None
            if rtype == last_type and rtype is not None:
                bucket.append(resource)
            elif not isinstance(rtype, str):
                pool.notes.append(DataQualityNote(f"{key} entry {position}", "entry has no resource; ignored"))
            elif rtype in _SPECIAL_TYPES:
                full_url = entry.get("fullUrl")
                _pool(pool, full_url if isinstance(full_url, str) else None, resource)
            else:
                last_type, bucket = rtype, by_type.setdefault(rtype, [])
                bucket.append(resource)
    return pool


def _pool(pool: ResourcePool, full_url: str | None, resource: JsonObject) -> None:
    rtype = resource["resourceType"]
    if rtype in REFERENCED_TYPES:
        pool.index.setdefault(resource_reference(resource), resource)
        if full_url:
            pool.index.setdefault(full_url, resource)
    elif rtype == "Patient" and full_url and resource.get("id") == pool.patient_id:
        pool.patient_aliases.add(full_url)
    if rtype != "OperationOutcome":
        pool.by_type.setdefault(rtype, []).append(resource)
