"""The patient's HCC timeline: a SMART on FHIR app served under ``/app/`` and the reading it draws.

The browser does the SMART part (``timeline_app/smart.js``: discovery, PKCE S256, the token, the FHIR reads);
the token never reaches the service. The app posts the chart's resources to ``POST /app/reading``, which
answers with the service's reading of them (``hooks.reading``: the cards' mapping, rules and words) and the
screen drawn from it (``timeline_view``). Nothing is stored or logged. Every page is served under a strict
Content-Security-Policy: scripts and styles from this origin only, connections to this origin and to the
FHIR servers (and any ``CDS_SMART_ALLOWED_ORIGINS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from cds_service.api.timeline_view import timeline_html
from cds_service.config import Settings
from cds_service.errors import InvalidRequest, UnknownService, UnsupportedMediaType
from cds_service.hooks.models import validated
from cds_service.hooks.reading import ChartReader
from cds_service.hooks.services import prefetch_specs
from cds_service.knowledge import Knowledge

APP_PATH = "/app"
ASSETS = {
    "smart.js": "text/javascript",
    "timeline.js": "text/javascript",
    "app.css": "text/css",
}
PAGES = {"": "index.html", "launch": "launch.html"}
FHIR_ID = r"^[A-Za-z0-9\-\.]{1,64}$"

router = APIRouter()


@dataclass(frozen=True, slots=True)
class TimelineApp:
    """What the app's routes need, built once with the service."""

    reader: ChartReader
    client_config: bytes
    security_headers: dict[str, str]
    clock: Any  # () -> date, the rules' today (tests pin it)


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and images from this origin only; connections to it, the FHIR servers and the
    configured SMART origins; no plugins, frames, forms or base URL."""
    origins = [o for o in (_origin(u) for u in (*settings.fhir_allowed_servers, *settings.smart_allowed_origins)) if o]
    connect = " ".join(["'self'", *dict.fromkeys(origins)])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; object-src 'none'"
    )


def scopes(resource_types: list[str], version: int) -> str:
    """Read-only patient scopes for the types the app reads: SMART v2 ``patient/X.rs``, v1 ``patient/X.read``."""
    suffix = "rs" if version == 2 else "read"
    return " ".join(f"patient/{t}.{suffix}" for t in resource_types)


def client_config(settings: Settings, knowledge: Knowledge) -> dict[str, Any]:
    """What the browser needs: the client id, the scopes and the chart queries (the hooks' prefetch templates)."""
    specs = prefetch_specs(knowledge)
    types = list(dict.fromkeys(spec.template.split("?", 1)[0].split("/", 1)[0] for spec in specs))
    if any("_include=" in spec.template for spec in specs):
        types.append("Medication")
    return {
        "clientId": settings.smart_client_id,
        "scopesV2": scopes(types, 2),
        "scopesV1": scopes(types, 1),
        "allowedIssuers": settings.fhir_allowed_servers,
        "queries": [
            {"key": spec.key, "template": spec.template, "group": spec.category, "required": spec.required}
            for spec in specs
        ],
    }


def build_timeline_app(
    settings: Settings, knowledge: Knowledge, clock: Any, override_reason_system: str
) -> TimelineApp:
    reader = ChartReader(knowledge, settings.public_base_url, override_reason_system)
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # the page's URL carries the authorization code
        "Cache-Control": "no-store",
    }
    return TimelineApp(reader, orjson.dumps(client_config(settings, knowledge)), headers, clock)


def _app(request: Request) -> TimelineApp:
    app: TimelineApp = request.app.state.timeline
    return app


def _file(name: str) -> bytes:
    return resources.files("cds_service.api").joinpath("timeline_app", name).read_bytes()


@router.get(APP_PATH, include_in_schema=False)
async def app_root(request: Request) -> Response:
    """``/app`` → ``/app/`` (the registered redirect URI)."""
    return Response(status_code=308, headers={"Location": f"{APP_PATH}/"})


@router.get(APP_PATH + "/", include_in_schema=False)
async def app_page(request: Request) -> Response:
    """The timeline page (the redirect URI)."""
    return await app_file("", request)


@router.get(APP_PATH + "/{name}", include_in_schema=False)
async def app_file(name: str, request: Request) -> Response:
    """The app's pages (``/app/`` and ``/app/launch``), its script and style sheet, and its configuration."""
    timeline = _app(request)
    headers = timeline.security_headers
    if name in PAGES:
        return Response(_file(PAGES[name]), media_type="text/html; charset=utf-8", headers=headers)
    if name in ASSETS:
        return Response(_file(name), media_type=ASSETS[name], headers=headers)
    if name == "config.json":
        return Response(timeline.client_config, media_type="application/json", headers=headers)
    raise UnknownService(f"No page {name!r} in the timeline app")


class ReadingRequest(BaseModel):
    """The chart the app read with its own token: the patient's resources, and which queries failed."""

    model_config = ConfigDict(extra="forbid")

    patient: Annotated[str, Field(pattern=FHIR_ID)]
    resources: list[dict[str, Any]] = Field(max_length=10_000)
    conditionsAvailable: bool = True
    medicationsAvailable: bool = True


@router.post(APP_PATH + "/reading", include_in_schema=False)
async def reading(request: Request) -> Response:
    """The service's reading of the posted chart and the screen drawn from it; nothing is kept."""
    timeline = _app(request)
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("Request body is not valid JSON") from exc
    body = validated(ReadingRequest, payload, what="reading request")
    today: date = timeline.clock()
    result = await run_in_threadpool(
        timeline.reader.read,
        body.patient,
        body.resources,
        today=today,
        conditions_available=body.conditionsAvailable,
        medications_available=body.medicationsAvailable,
    )
    content = orjson.dumps({"reading": result, "html": timeline_html(result)})
    return Response(content, media_type="application/json", headers=timeline.security_headers)
