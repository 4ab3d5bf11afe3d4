"""A FHIR server stand-in for the fallback benchmark: serves the fixture's prefetch with set delays."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from benchmarks.payloads import relevant

PREFETCH: dict[str, Any] = relevant(100)["prefetch"]
DELAYS: dict[str, float] = json.loads(os.environ.get("FAKE_FHIR_DELAYS", "{}"))
KEY_BY_TYPE = {
    "Patient": "patient",
    "Condition": "conditions",
    "MedicationStatement": "medicationStatements",
    "MedicationRequest": "medicationRequests",
    "MedicationAdministration": "medicationAdministrations",
}


async def search(request: Request) -> JSONResponse:
    resource_type = request.path_params["resource_type"]
    if resource_type == "Observation":
        key = "afp" if "1834-1" in request.query_params.get("code", "") else "liverLabs"
    else:
        key = KEY_BY_TYPE[resource_type]
    await asyncio.sleep(DELAYS.get(key, 0.0))
    return JSONResponse(PREFETCH[key], media_type="application/fhir+json")


app = Starlette(routes=[Route("/fhir/{resource_type}", search), Route("/fhir/{resource_type}/{rid}", search)])
