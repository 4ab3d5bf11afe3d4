"""Resolve the FHIR data of a hook call from prefetch (CDS Hooks 2.0, conformance checklist section 2.4).

A key that is present is the answer, whatever it holds: a resource or Bundle is used, ``null`` or an
empty Bundle means "none" (no refetch), an OperationOutcome is the client's error for that key. A key
that is absent is fetched from ``fhirServer`` by a ``FhirFetcher`` when one is configured; required data
that cannot be obtained is a ``DataUnavailable`` error (412).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from cds_service.errors import DataUnavailable

Category = Literal["patient", "conditions", "medications", "observations"]


@dataclass(frozen=True, slots=True)
class PrefetchSpec:
    """One prefetch template of a service, what it feeds, and whether the answer needs it."""

    key: str
    template: str
    category: Category
    required: bool


class KeyStatus(StrEnum):
    PROVIDED = "provided"  # a resource or a non-empty Bundle
    NONE = "none"  # null or an empty Bundle: the client looked and found nothing
    ERROR = "error"  # an OperationOutcome: the client failed to get it
    MISSING = "missing"  # not sent and not fetched


# Member lookups on an enum class cost a Python-level call each on 3.11: these are looked up once.
_PROVIDED, _NONE, _ERROR, _MISSING = KeyStatus.PROVIDED, KeyStatus.NONE, KeyStatus.ERROR, KeyStatus.MISSING
_COMPLETE = (_PROVIDED, _NONE)
_UNAVAILABLE = (_ERROR, _MISSING)


@dataclass
class ResolvedData:
    values: dict[str, Any] = field(default_factory=dict)
    status: dict[str, KeyStatus] = field(default_factory=dict)
    specs: tuple[PrefetchSpec, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)  # why a key is missing or failed (no secrets)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (key, note) e.g. results truncated
    fetched: tuple[str, ...] = ()  # keys obtained from the FHIR server rather than prefetch
    truncated: set[str] = field(default_factory=set)  # keys holding only part of the search (pages left unread)

    def available(self, category: Category) -> bool:
        """True when the keys ``category`` depends on gave a complete answer (data, or a definite "none").

        A category with required keys depends on those; an optional key that failed is a data gap stated
        on the card, not a reason to call the whole category unknown. A key whose search was cut (more
        pages than read) makes its category incomplete: unknown, not "nothing more".
        """
        required: list[str] = []
        optional: list[str] = []
        for spec in self.specs:
            if spec.category == category:
                if spec.key in self.truncated:
                    return False
                (required if spec.required else optional).append(spec.key)
        keys = required or optional
        status = self.status
        return bool(keys) and all(status.get(k) in _COMPLETE for k in keys)

    def unavailable(self) -> list[PrefetchSpec]:
        status = self.status
        return [s for s in self.specs if status.get(s.key) in _UNAVAILABLE]


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """What a fetch needs from the hook call. The token lives only for this request."""

    fhir_server: str | None
    access_token: str | None = field(default=None, repr=False)
    context: Mapping[str, Any] = field(default_factory=dict)
    client_servers: tuple[str, ...] = ()  # FHIR bases allowed for the authenticated client


@dataclass
class FetchOutcome:
    values: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)
    truncated: set[str] = field(default_factory=set)  # keys whose search was cut at a page or resource limit


def has_next_page(value: Any) -> bool:
    """A searchset Bundle that says more pages follow (a prefetch holding only its first page)."""
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        return False
    links = value.get("link")
    if not isinstance(links, list):
        return False
    return any(isinstance(link, dict) and link.get("relation") == "next" for link in links)


class FhirFetcher(Protocol):
    """Fetches the prefetch keys the client did not send (data-access fallback)."""

    async def fetch_missing(self, specs: list[PrefetchSpec], request: FetchRequest) -> FetchOutcome:
        """The values obtained by key, and a safe reason for each key that could not be obtained."""
        ...


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_error(value: Mapping[str, Any]) -> bool:
    """An OperationOutcome, or a Bundle whose entries are all OperationOutcomes and one is an error.

    Stops at the first entry that is not an OperationOutcome, so a long Bundle of results costs one look.
    """
    if value.get("resourceType") == "OperationOutcome":
        return True
    entries = value.get("entry") if value.get("resourceType") == "Bundle" else None
    has_error = False
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if not isinstance(resource, dict) or resource.get("resourceType") != "OperationOutcome":
            return False
        issues = _items(resource.get("issue"))
        has_error = has_error or any(isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues)
    return has_error


def classify_value(value: Any) -> KeyStatus:
    """What one present prefetch value means (null and empty Bundles are "none", never refetched)."""
    if value is None:
        return _NONE
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return _ERROR
    if _is_error(value):
        return _ERROR
    if value["resourceType"] == "Bundle" and not value.get("entry"):
        return _NONE
    return _PROVIDED


async def resolve_data(
    specs: tuple[PrefetchSpec, ...],
    prefetch: Mapping[str, Any] | None,
    request: FetchRequest,
    fetcher: FhirFetcher | None,
) -> ResolvedData:
    """Use what the client sent, fetch what it left out, and fail with 412 when required data is missing."""
    prefetch = prefetch or {}
    resolved = ResolvedData(specs=specs)
    missing: list[PrefetchSpec] = []
    for spec in specs:
        if spec.key in prefetch:
            value = prefetch[spec.key]
            resolved.status[spec.key] = classify_value(value)
            resolved.values[spec.key] = value
            if has_next_page(value):
                resolved.truncated.add(spec.key)
                resolved.notes.append((spec.key, "incomplete: the prefetch holds only the first page of the search"))
        else:
            missing.append(spec)
    if missing and fetcher is not None:
        fetched = await fetcher.fetch_missing(missing, request)
        resolved.reasons.update(fetched.failures)
        resolved.notes += fetched.notes
        resolved.truncated |= fetched.truncated
        for spec in missing:
            if spec.key in fetched.values:
                resolved.status[spec.key] = classify_value(fetched.values[spec.key])
                resolved.values[spec.key] = fetched.values[spec.key]
        resolved.fetched = tuple(k for k in fetched.values if k in resolved.values)
    for spec in missing:
        if spec.key not in resolved.status:
            resolved.status[spec.key] = _MISSING
            resolved.reasons.setdefault(spec.key, "not in prefetch; fetching from the FHIR server is not enabled")
    for spec in specs:
        if resolved.status[spec.key] is _ERROR:
            resolved.reasons.setdefault(spec.key, "answered with an error (OperationOutcome)")
    failed = [s for s in resolved.unavailable() if s.required]
    if failed:
        names = "; ".join(f"{s.key} ({s.template}): {resolved.reasons[s.key]}" for s in failed)
        raise DataUnavailable(
            f"Required data could not be obtained: {names}",
            expression=[f"prefetch.{s.key}" for s in failed],
        )
    return resolved
