"""Load the fixture patients (FHIR R4 transaction bundles) into a FHIR server, for the sandbox and for demos."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


class FixtureLoadError(Exception):
    """A fixture that could not be loaded, with a message a developer can act on."""


class FhirServerUnreachable(FixtureLoadError):
    """No fixture can be loaded: the server does not answer."""


@dataclass(frozen=True, slots=True)
class LoadedBundle:
    """What one transaction bundle put on the server."""

    file: str
    patient_id: str | None
    resources: Counter[str] = field(default_factory=Counter)


def read_transaction(path: Path) -> dict[str, Any]:
    """A fixture file as a transaction Bundle, or a ``FixtureLoadError`` saying what is wrong with it."""
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FixtureLoadError(f"{path.name}: not a readable JSON file ({exc})") from exc
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise FixtureLoadError(f"{path.name}: not a FHIR transaction Bundle")
    if not isinstance(bundle.get("entry"), list) or not bundle["entry"]:
        raise FixtureLoadError(f"{path.name}: the transaction Bundle has no entries")
    return bundle


def _outcome_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    issues = body.get("issue") if isinstance(body, dict) else None
    if isinstance(issues, list) and issues:
        return "; ".join(str(i.get("diagnostics") or i.get("code")) for i in issues if isinstance(i, dict))[:500]
    return response.reason_phrase


def load_bundle(client: httpx.Client, fhir_server: str, path: Path) -> LoadedBundle:
    """POST one transaction bundle to the server's base URL; every entry must succeed (2xx)."""
    bundle = read_transaction(path)
    base = fhir_server.rstrip("/")
    try:
        response = client.post(
            base,
            content=json.dumps(bundle).encode(),
            headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
        )
    except httpx.TransportError as exc:
        raise FhirServerUnreachable(f"cannot reach the FHIR server at {base} ({type(exc).__name__}: {exc})") from exc
    if response.status_code >= 300:
        status = response.status_code
        raise FixtureLoadError(f"{path.name}: the FHIR server answered {status}: {_outcome_text(response)}")
    try:
        reply = response.json()
    except ValueError as exc:
        raise FixtureLoadError(f"{path.name}: the answer is not JSON; is {base} a FHIR base URL?") from exc
    entries = reply.get("entry") if isinstance(reply, dict) else None
    if not isinstance(entries, list) or reply.get("resourceType") != "Bundle":
        raise FixtureLoadError(f"{path.name}: the FHIR server did not answer with a transaction-response Bundle")
    failed = [
        str(entry.get("response", {}).get("status"))
        for entry in entries
        if not str(entry.get("response", {}).get("status", "")).startswith("2")
    ]
    if failed:
        raise FixtureLoadError(f"{path.name}: {len(failed)} entries were refused (status {', '.join(failed[:5])})")
    resources: Counter[str] = Counter()
    patient_id = None
    for entry in bundle["entry"]:
        resource = entry.get("resource", {})
        resources[resource.get("resourceType", "?")] += 1
        if resource.get("resourceType") == "Patient":
            patient_id = resource.get("id")
    return LoadedBundle(path.name, patient_id, resources)


def fixture_files(folder: Path) -> list[Path]:
    """The fixture bundles of ``folder`` in a stable order."""
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FixtureLoadError(f"no fixture bundles (*.json) in {folder}")
    return files
