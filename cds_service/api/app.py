"""The FastAPI application: built by ``create_app``, everything heavy loaded once in the lifespan."""

from __future__ import annotations

import copy
import gc
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cds_service import __version__
from cds_service.api.access_log import AccessLog
from cds_service.api.body_limit import BodySizeLimit
from cds_service.api.docs import install_offline_docs
from cds_service.api.errors import install_error_handlers
from cds_service.api.feedback_models import FeedbackRequest
from cds_service.api.knowledge_routes import router as knowledge_router
from cds_service.api.logs import configure_logging, current_request
from cds_service.api.metrics import Metrics, MetricsMiddleware
from cds_service.api.operator_access import OperatorAccess
from cds_service.api.review_routes import router as review_router
from cds_service.api.routes import HOOK_PATH, call_service, hook_endpoint, json_body_of, router
from cds_service.api.state import AppState
from cds_service.api.timeline_app import build_timeline_app
from cds_service.api.timeline_app import router as timeline_router
from cds_service.cards.override_reasons import override_reason_system
from cds_service.config import Settings, get_settings
from cds_service.data.fhir_client import FetchLimits, HttpFhirFetcher, ServerPolicy
from cds_service.data.server_guard import GuardLimits, ServerGuards
from cds_service.hooks.models import HookRequest
from cds_service.hooks.pipeline import HookPipeline, utc_today
from cds_service.hooks.services import ServiceDefinition, service_definitions
from cds_service.knowledge import load_knowledge
from cds_service.security.jwt_auth import AuthSettings, ClientAuthenticator, KeySets
from cds_service.security.registry import load_registry
from cds_service.security.replay import MemoryReplayCache, RedisReplayCache, ReplayCache
from cds_service.store.feedback import FeedbackStore, IssuedCardWriter
from cds_service.store.migrate import SchemaBehindError, require_current_schema, upgrades_at_start
from cds_service.store.review_queue import BackgroundWriter, ReviewQueue

logger = logging.getLogger("cds_service.api")


def build_authenticator(settings: Settings, http_client: httpx.AsyncClient) -> ClientAuthenticator | None:
    """The JWT verifier from the settings (None when authentication is disabled for development).

    ``http_client`` fetches key sets only: FHIR fetches have their own pools, so a slow FHIR server can
    never starve client authentication."""
    if settings.auth_disabled:
        return None
    if settings.client_registry_path is None:  # the settings refuse this combination; never trust that here
        raise ValueError("CDS_CLIENT_REGISTRY_PATH is required unless authentication is disabled")
    registry, local_keys = load_registry(settings.client_registry_path, environment=settings.environment)
    replay: ReplayCache = (
        RedisReplayCache(settings.redis_url) if settings.replay_cache == "redis" else MemoryReplayCache()
    )
    return ClientAuthenticator(
        registry,
        KeySets(
            http_client,
            local_keys,
            settings.jwks_cache_seconds,
            max_bytes=settings.jwks_max_bytes,
            timeout_seconds=settings.jwks_fetch_timeout_seconds,
        ),
        replay,
        AuthSettings(
            public_base_url=settings.public_base_url,
            algorithms=tuple(settings.auth_algorithms),
            leeway_seconds=settings.auth_leeway_seconds,
            max_lifetime_seconds=settings.auth_max_token_lifetime_seconds,
        ),
    )


def create_app(settings: Settings | None = None, *, clock: Callable[[], date] = utc_today) -> FastAPI:
    """Build the service; ``clock`` gives today's date to the rules (tests pin it)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    knowledge = load_knowledge(settings.site_parameters_path)
    services = service_definitions(knowledge)
    metrics = Metrics(list(services))
    metrics.set_build_info(__version__, knowledge.info.version)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = FeedbackStore(
            settings.database_url,
            connect_timeout_seconds=settings.database_connect_timeout_seconds,
            statement_timeout_seconds=settings.database_statement_timeout_seconds,
        )
        try:
            require_current_schema(
                store.engine, upgrade_if_behind=upgrades_at_start(store.engine, settings.environment)
            )
        except SchemaBehindError as exc:
            logger.error("refusing to start: %s", exc)
            store.close()
            raise
        key_set_client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.jwks_fetch_timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
            event_hooks={"request": [_pass_trace_context]},
        )
        fhir_guards = ServerGuards(
            GuardLimits(
                max_concurrent=settings.fhir_server_max_concurrent,
                max_queued=settings.fhir_server_max_queued,
                breaker_failures=settings.fhir_breaker_failures,
                breaker_open_seconds=settings.fhir_breaker_open_seconds,
            ),
            timeout=httpx.Timeout(
                settings.fhir_read_timeout_seconds,
                connect=settings.fhir_connect_timeout_seconds,
                pool=settings.fhir_connect_timeout_seconds,
            ),
            on_refused=metrics.fhir_refused,
            request_hooks=[_pass_trace_context],
        )
        fetcher = HttpFhirFetcher(
            None,
            ServerPolicy(tuple(settings.fhir_allowed_servers), settings.fhir_allow_http),
            FetchLimits(
                deadline_seconds=settings.fhir_deadline_seconds,
                max_pages=settings.fhir_max_pages,
                max_resources=settings.fhir_max_resources,
                max_response_bytes=settings.fhir_max_response_bytes,
                max_call_bytes=settings.fhir_max_call_bytes,
            ),
            on_fetch=metrics.fetched,
            guards=fhir_guards,
        )
        pipeline = HookPipeline(knowledge, settings, fetcher=fetcher, clock=clock)
        authenticator = build_authenticator(settings, key_set_client)
        issued_cards = IssuedCardWriter(
            store, max_spooled=settings.issued_card_spool_records, on_dropped=metrics.issued_cards_dropped.inc
        )
        key = settings.review_queue_key.get_secret_value() if settings.review_queue_key else None
        review_queue = ReviewQueue(store.engine, key) if key else None
        pilot_writer = BackgroundWriter() if key else None
        app.state.cds = AppState(
            settings,
            knowledge,
            services,
            pipeline,
            store,
            authenticator,
            issued_cards,
            metrics,
            fhir_guards=fhir_guards,
            review_queue=review_queue,
            pilot_writer=pilot_writer,
            site_key=key,
        )
        if authenticator is None:
            logger.warning(
                "CDS_AUTH_DISABLED=true: client authentication is OFF and every caller is admitted; "
                "for local development only, never with real patient data"
            )
        # Long-lived objects (knowledge, models, matchers) leave the garbage collector's young generations,
        # and collections run less often: fewer pauses under load (p99).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        await _log_readiness(app.state.cds)
        try:
            yield
        finally:
            if pilot_writer is not None:
                await pilot_writer.close()
            await issued_cards.close()
            if authenticator is not None:
                await authenticator.replay.close()
            await fhir_guards.close()
            await key_set_client.aclose()
            store.close()

    docs_on = settings.docs_access_effective != "off"
    app = FastAPI(
        title="HCC second-line sequencing CDS service",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served from the package's own assets, never a CDN (api/docs.py)
        openapi_url="/openapi.json" if docs_on else None,
        redoc_url=None,
    )
    if docs_on:
        install_offline_docs(app)
    install_error_handlers(app)
    app.add_route(HOOK_PATH, hook_endpoint, methods=["POST"], include_in_schema=False)
    app.include_router(router)
    app.include_router(knowledge_router)
    app.include_router(review_router)
    app.include_router(timeline_router)
    app.state.timeline = build_timeline_app(
        settings, knowledge, clock, override_reason_system(settings.public_base_url)
    )
    install_openapi(app, services)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_allowed_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        max_age=600,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        OperatorAccess,
        metrics=settings.metrics_access_effective,
        docs=settings.docs_access_effective,
        token=settings.operator_token.get_secret_value() if settings.operator_token else None,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(AccessLog)  # outermost: every answer, refusals included, has its request id and log line
    return app


async def _pass_trace_context(request: httpx.Request) -> None:
    """Outbound calls made for a request carry its caller's W3C ``traceparent`` (when it sent a valid one)."""
    context = current_request.get()
    if context is not None and context.traceparent:
        request.headers["traceparent"] = context.traceparent


async def _log_readiness(state: AppState) -> None:
    """Say at start-up what ``/readyz`` would: "ready" only when the store and the replay cache answer."""
    from fastapi.concurrency import run_in_threadpool

    unreachable = [] if await run_in_threadpool(state.store.ping) else ["feedback store (CDS_DATABASE_URL)"]
    if state.authenticator is not None and not await state.authenticator.replay.ping():
        unreachable.append("replay cache (CDS_REDIS_URL)")
    fields = {
        "knowledge": state.knowledge.info.version,
        "version": __version__,
        "services": list(state.services),
        "pilot": state.knowledge.pilot.describe(),
        "review_queue": state.review_queue is not None,
    }
    if unreachable:
        logger.warning(
            "started, not ready: %s unreachable; /readyz answers 503 until it is back",
            " and ".join(unreachable),
            extra={**fields, "unreachable": unreachable},
        )
    else:
        logger.info("ready", extra=fields)


_ERROR_RESPONSES = {
    str(status): {"description": f"{meaning} (an OperationOutcome)"}
    for status, meaning in [
        (400, "Invalid request"),
        (401, "Client authentication failed"),
        (404, "Unknown service"),
        (412, "Required data could not be obtained"),
        (413, "Body too large"),
        (415, "Content-Type is not application/json"),
        (503, "A dependency is down; retry later"),
    ]
}


def install_openapi(app: FastAPI, services: dict[str, ServiceDefinition]) -> None:
    """The OpenAPI document declares each service's request body (its hook and context) and the feedback
    body, so that a client (or a fuzzer) can build valid calls; the routes read and validate the bodies
    themselves and answer bad input with a 400 OperationOutcome."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi_document(app, services)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _openapi_document(app: FastAPI, services: dict[str, ServiceDefinition]) -> dict[str, Any]:
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    contexts = {service.context_model for service in services.values()}
    ordered: list[type[BaseModel]] = [HookRequest, FeedbackRequest, *sorted(contexts, key=lambda m: m.__name__)]
    models: list[tuple[type[BaseModel], Literal["validation"]]] = [(model, "validation") for model in ordered]
    _, schemas = models_json_schema(models, ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(schemas.get("$defs", {}))
    for name in {m.__name__ for m in contexts}:
        if "draftOrders" in components[name].get("properties", {}):
            components[name]["properties"]["draftOrders"] = _BUNDLE_SCHEMA
    for operation in (op for item in document["paths"].values() for op in item.values()):
        operation.get("responses", {}).pop("422", None)  # bad input is a 400 OperationOutcome
        if "requestBody" in operation:
            operation["responses"].update(_ERROR_RESPONSES)
        for parameter in operation.get("parameters", []):
            if parameter.get("name") == "service_id":
                parameter["schema"] = {"type": "string", "enum": sorted(services)}
    generic = _hook_operation()
    for service in services.values():
        name = f"{service.context_model.__name__.removesuffix('Context')}Request"
        request = copy.deepcopy(components["HookRequest"])
        request["title"] = name
        request["properties"]["hook"] = {"type": "string", "const": service.hook}
        request["properties"]["context"] = {"$ref": f"#/components/schemas/{service.context_model.__name__}"}
        components[name] = request
        operation = {k: v for k, v in copy.deepcopy(generic).items() if k != "parameters"}
        operation["operationId"] = f"call_{service.id.replace('-', '_')}"
        operation["requestBody"]["content"]["application/json"]["schema"] = {"$ref": f"#/components/schemas/{name}"}
        document["paths"][f"/cds-services/{service.id}"] = {"post": operation}
    return document


def _hook_operation() -> dict[str, Any]:
    """The hook call's operation (the route is a plain Starlette one, outside FastAPI's document)."""
    return {
        "summary": "Call Service",
        "description": inspect.cleandoc(call_service.__doc__ or ""),
        **json_body_of("HookRequest"),
        "responses": {
            "200": {"description": "Successful Response", "content": {"application/json": {"schema": {}}}},
            **_ERROR_RESPONSES,
        },
    }


_BUNDLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"type": "string"},
        "entry": {"type": "array", "items": {"type": "object", "properties": {"resource": {"type": "object"}}}},
    },
}
