"""HTTP routes: discovery, the CDS services, feedback, health, and the override-reason CodeSystem."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from cds_service import __version__
from cds_service.api.feedback_models import FeedbackRequest
from cds_service.api.json_depth import deeper_than
from cds_service.api.review_routes import flag_committee_overrides, record_for_pilot
from cds_service.api.state import AppState, get_state
from cds_service.cards.override_reasons import override_reason_code_system
from cds_service.errors import (
    CdsServiceError,
    InvalidRequest,
    ServiceUnavailable,
    UnknownService,
    UnsupportedMediaType,
)
from cds_service.hooks.models import HookRequest, validated
from cds_service.hooks.pipeline import HookOutcome
from cds_service.hooks.services import ServiceDefinition
from cds_service.security.clients import DEVELOPMENT_CLIENT, ClientIdentity
from cds_service.security.jwt_auth import AuthenticationFailed
from cds_service.security.replay import ReplayCacheUnavailable
from cds_service.store.feedback import FeedbackRecord, IssuedCardRecord

logger = logging.getLogger("cds_service.hooks")

router = APIRouter()
State = Annotated[AppState, Depends(get_state)]


async def require_trusted_client(request: Request, state: State) -> ClientIdentity:
    """CDS Hooks client authentication on discovery, services and feedback; any failure is a bare 401."""
    if state.authenticator is None:
        return DEVELOPMENT_CLIENT
    try:
        return await state.authenticator.authenticate(request.headers.get("authorization"), request.url.path)
    except AuthenticationFailed as exc:
        raise HTTPException(401, "Unauthorized", headers={"WWW-Authenticate": "Bearer"}) from exc
    except ReplayCacheUnavailable as exc:
        logger.warning("replay cache unavailable: request refused with 503", extra={"error": str(exc)})
        raise ServiceUnavailable("Client authentication is unavailable (replay cache down); retry later") from exc


TrustedClient = Annotated[ClientIdentity, Depends(require_trusted_client)]


def _require_json(request: Request) -> None:
    """POST bodies must be ``Content-Type: application/json`` (parameters such as charset allowed)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")


async def _json_body(request: Request, max_depth: int) -> Any:
    _require_json(request)
    body = await request.body()
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("Request body is not valid JSON") from exc
    if deeper_than(body, max_depth):
        raise InvalidRequest(f"Request body nests arrays and objects more than {max_depth} levels deep")
    return parsed


def _service(state: AppState, service_id: str) -> ServiceDefinition:
    service = state.services.get(service_id)
    if service is None:
        raise UnknownService(f"No CDS service with id {service_id!r}")
    return service


@router.get("/cds-services")
async def discovery(state: State, client: TrustedClient) -> dict[str, Any]:
    """CDS Hooks discovery: every service with its hook, id, title, description and prefetch templates."""
    return {"services": [service.discovery_entry() for service in state.services.values()]}


def json_body_of(schema: str) -> dict[str, Any]:
    """OpenAPI for a body read by the route itself (validated to 400s, not FastAPI's 422s)."""
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {"requestBody": {"required": True, "content": content}}


async def hook_endpoint(request: Request) -> Response:
    """``POST /cds-services/{service_id}`` as a plain Starlette route (``HOOK_PATH``): the hot path.

    FastAPI's per-call route matching, dependency solving and response handling were a quarter of an
    irrelevant order's CPU; the OpenAPI document declares the operation per service (``api.app``).
    """
    return await call_service(request.path_params["service_id"], request)


HOOK_PATH = "/cds-services/{service_id}"


async def call_service(service_id: str, request: Request) -> Response:
    """Answer a hook call with cards (``{"cards": []}`` when there is nothing to say).

    State and client are resolved here, in the order the dependencies would (client authentication
    first).
    """
    state = await get_state(request)
    client = await require_trusted_client(request, state)
    service = _service(state, service_id)
    started = time.perf_counter()
    hook_request = validated(HookRequest, await _json_body(request, state.settings.max_json_depth), what="request")
    log = {"service": service.id, "hook": service.hook, "hookInstance": hook_request.hookInstance}
    try:
        result = await state.pipeline.run(service, hook_request, client_servers=client.fhir_servers)
    except CdsServiceError as error:
        duration = round((time.perf_counter() - started) * 1000, 2)
        logger.warning("hook refused", extra={**log, "outcome": f"http-{error.status_code}", "duration_ms": duration})
        raise
    logger.info(
        "hook answered",
        extra={
            **log,
            "outcome": result.outcome,
            "fetched": list(result.fetched),
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    for card in result.response.cards:
        state.metrics.cards.labels(service.id, card.indicator).inc()
    if result.issued:
        # In a fresh context: the writer's task, started by the first call, must not carry that call's request id.
        contextvars.Context().run(state.issued_cards.submit, _issued_records(service, hook_request, result))
    record_for_pilot(state, service, hook_request, result)
    return Response(orjson.dumps(result.response.to_json()), media_type="application/json")


def _issued_records(service: ServiceDefinition, request: HookRequest, result: HookOutcome) -> list[IssuedCardRecord]:
    return [
        IssuedCardRecord(
            card_uuid=issued.card.uuid,
            service_id=service.id,
            hook_instance=request.hookInstance,
            kind=issued.kind,
            setting=result.setting,
            selected=result.selected,
            suggestions=issued.suggestions,
            knowledge_version=result.knowledge_version,
            indicator=issued.card.indicator,
            gates=issued.gates,
        )
        for issued in result.issued
    ]


@router.post("/cds-services/{service_id}/feedback", openapi_extra=json_body_of("FeedbackRequest"))
async def feedback(service_id: str, request: Request, state: State, client: TrustedClient) -> dict[str, Any]:
    """Store CDS Hooks feedback durably; a repeated report of the same outcome is stored once."""
    service = _service(state, service_id)
    body = validated(FeedbackRequest, await _json_body(request, state.settings.max_json_depth), what="request")
    records = [
        FeedbackRecord(
            service_id=service.id,
            card_uuid=item.card,
            outcome=item.outcome,
            outcome_timestamp=item.outcomeTimestamp,
            accepted_suggestions=tuple(s.id for s in item.acceptedSuggestions or ()),
            override_reason_system=item.overrideReason.reason.system
            if item.overrideReason and item.overrideReason.reason
            else None,
            override_reason_code=item.overrideReason.reason.code
            if item.overrideReason and item.overrideReason.reason
            else None,
            override_comment=item.overrideReason.userComment if item.overrideReason else None,
        )
        for item in body.feedback
    ]
    try:  # a database that does not answer is a 503 after the statement timeout, not a hung request
        stored = await state.store.call(
            state.store.save, records, timeout=state.settings.database_statement_timeout_seconds + 1
        )
    except TimeoutError as exc:
        raise ServiceUnavailable("The feedback store did not answer in time; retry later") from exc
    await flag_committee_overrides(state, records)
    for record in records:
        state.metrics.feedback.labels(service.id, record.outcome).inc()
    logger.info("feedback", extra={"service": service.id, "received": len(records), "stored": stored})
    return {}


@router.get("/healthz")
async def healthz(state: State) -> dict[str, str]:
    """Liveness: the process answers; with the running version and knowledge version."""
    return {"status": "ok", "version": __version__, "knowledge": state.knowledge.info.version}


async def _answers_within(seconds: float, check: Awaitable[bool]) -> bool:
    try:
        async with asyncio.timeout(seconds):
            return await check
    except TimeoutError:
        return False


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    """Readiness, within ``CDS_READINESS_TIMEOUT_SECONDS``: knowledge loaded, the feedback store answering and
    taking writes (issued-card records are not piling up) and, with authentication on, the replay cache.

    FHIR servers whose circuit is open are reported but do not make the service unready: hook calls with
    prefetch are still answered, and another replica would meet the same server.
    """
    deadline = state.settings.readiness_timeout_seconds
    try:
        store_ok = await state.store.call(state.store.ping, timeout=deadline)
    except TimeoutError:
        store_ok = False
    store = "ok" if store_ok else "unreachable"
    if store_ok and state.issued_cards.failing:
        store_ok, store = False, f"cannot write ({state.issued_cards.spooled} issued-card records waiting)"
    body: dict[str, Any] = {"knowledge": state.knowledge.info.version, "store": store}
    ready = store_ok
    if state.authenticator is not None:
        replay_ok = await _answers_within(deadline, state.authenticator.replay.ping())
        body["replay_cache"] = "ok" if replay_ok else "unreachable"
        ready = ready and replay_ok
    if state.fhir_guards is not None:
        body["fhir_servers"] = state.fhir_guards.states()
    return JSONResponse({"status": "ready" if ready else "not-ready", **body}, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(state: State) -> Response:
    """Prometheus metrics (scrape from inside the hospital network; they carry no patient data)."""
    fhir_servers = state.fhir_guards.states() if state.fhir_guards is not None else {}
    state.metrics.observe_dependencies(fhir_servers, state.issued_cards.spooled)
    return Response(state.metrics.exposition(), media_type=state.metrics.content_type)


@router.get("/CodeSystem/override-reason")
async def override_reasons(state: State) -> dict[str, Any]:
    """The CodeSystem of the override reasons offered on "does not fit" warnings."""
    return override_reason_code_system(state.pipeline.override_reason_system)
