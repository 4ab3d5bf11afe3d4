"""The FastAPI application: built by ``create_app``, everything heavy loaded once in the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from cds_service import __version__
from cds_service.api.body_limit import BodySizeLimit
from cds_service.api.errors import install_error_handlers
from cds_service.api.feedback_models import FeedbackRequest
from cds_service.api.logs import configure_logging
from cds_service.api.metrics import Metrics, MetricsMiddleware
from cds_service.api.operator_access import OperatorAccess
from cds_service.api.routes import router
from cds_service.api.state import AppState
from cds_service.config import Settings, get_settings
from cds_service.data.fhir_client import FetchLimits, HttpFhirFetcher, ServerPolicy
from cds_service.hooks.models import HookRequest
from cds_service.hooks.pipeline import HookPipeline, split_code, utc_today
from cds_service.hooks.services import service_definitions
from cds_service.security.jwt_auth import AuthSettings, ClientAuthenticator, KeySets
from cds_service.security.registry import load_registry
from cds_service.security.replay import MemoryReplayCache, RedisReplayCache, ReplayCache
from cds_service.sequencing.knowledge import load_knowledge
from cds_service.store.feedback import FeedbackStore, IssuedCardWriter

logger = logging.getLogger("cds_service.api")


def build_authenticator(settings: Settings, http_client: httpx.AsyncClient) -> ClientAuthenticator | None:
    """The JWT verifier from the settings (None when authentication is disabled for development)."""
    if settings.auth_disabled:
        return None
    assert settings.client_registry_path is not None
    registry, local_keys = load_registry(settings.client_registry_path)
    replay: ReplayCache = (
        RedisReplayCache(settings.redis_url) if settings.replay_cache == "redis" else MemoryReplayCache()
    )
    return ClientAuthenticator(
        registry,
        KeySets(http_client, local_keys, settings.jwks_cache_seconds),
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
    knowledge = load_knowledge()
    services = service_definitions(knowledge, split_code(settings.child_pugh_observation_code))
    metrics = Metrics(list(services))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = FeedbackStore(settings.database_url)
        http_client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.fhir_read_timeout_seconds, connect=settings.fhir_connect_timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        fetcher = HttpFhirFetcher(
            http_client,
            ServerPolicy(tuple(settings.fhir_allowed_servers), settings.fhir_allow_http),
            FetchLimits(
                deadline_seconds=settings.fhir_deadline_seconds,
                max_pages=settings.fhir_max_pages,
                max_resources=settings.fhir_max_resources,
                max_response_bytes=settings.fhir_max_response_bytes,
                max_call_bytes=settings.fhir_max_call_bytes,
            ),
            on_fetch=metrics.fetched,
        )
        pipeline = HookPipeline(knowledge, settings, fetcher=fetcher, clock=clock)
        authenticator = build_authenticator(settings, http_client)
        issued_cards = IssuedCardWriter(store)
        app.state.cds = AppState(settings, knowledge, services, pipeline, store, authenticator, issued_cards, metrics)
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
        logger.info("ready", extra={"knowledge": knowledge.info.version, "services": list(services)})
        try:
            yield
        finally:
            await issued_cards.close()
            if authenticator is not None:
                await authenticator.replay.close()
            await http_client.aclose()
            store.close()

    docs_on = settings.docs_access_effective != "off"
    app = FastAPI(
        title="HCC second-line sequencing CDS service",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if docs_on else None,
        openapi_url="/openapi.json" if docs_on else None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(router)
    install_openapi(app, list(services))
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
    return app


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


def install_openapi(app: FastAPI, service_ids: list[str]) -> None:
    """The OpenAPI document declares the hook request and feedback bodies and the service ids, so that a
    client (or a fuzzer) can build valid calls; the routes read and validate the bodies themselves."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            _, schemas = models_json_schema(
                [(HookRequest, "validation"), (FeedbackRequest, "validation")],
                ref_template="#/components/schemas/{model}",
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(schemas.get("$defs", {}))
            for operation in (op for path in document["paths"].values() for op in path.values()):
                operation.get("responses", {}).pop("422", None)  # bad input is a 400 OperationOutcome
                if "requestBody" in operation:
                    operation["responses"].update(_ERROR_RESPONSES)
                for parameter in operation.get("parameters", []):
                    if parameter.get("name") == "service_id":
                        parameter["schema"] = {"type": "string", "enum": sorted(service_ids)}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
