"""The FastAPI application: built by ``create_app``, everything heavy loaded once in the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from cds_service import __version__
from cds_service.api.body_limit import BodySizeLimit
from cds_service.api.errors import install_error_handlers
from cds_service.api.logs import configure_logging
from cds_service.api.metrics import Metrics, MetricsMiddleware
from cds_service.api.routes import router
from cds_service.api.state import AppState
from cds_service.config import Settings, get_settings
from cds_service.data.fhir_client import FetchLimits, HttpFhirFetcher, ServerPolicy
from cds_service.hooks.pipeline import HookPipeline, utc_today
from cds_service.hooks.services import service_definitions
from cds_service.security.jwt_auth import AuthSettings, ClientAuthenticator, KeySets
from cds_service.security.registry import load_registry
from cds_service.security.replay import MemoryReplayCache, RedisReplayCache, ReplayCache
from cds_service.sequencing.knowledge import load_knowledge
from cds_service.store.feedback import FeedbackStore, IssuedCardWriter
from cds_service.store.migrate import SchemaBehindError, require_current_schema, upgrades_at_start

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
        ),
    )


def create_app(settings: Settings | None = None, *, clock: Callable[[], date] = utc_today) -> FastAPI:
    """Build the service; ``clock`` gives today's date to the rules (tests pin it)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    knowledge = load_knowledge(settings.site_parameters_path)
    services = service_definitions(knowledge)
    metrics = Metrics(list(services))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = FeedbackStore(settings.database_url)
        try:
            require_current_schema(
                store.engine, upgrade_if_behind=upgrades_at_start(store.engine, settings.environment)
            )
        except SchemaBehindError as exc:
            logger.error("refusing to start: %s", exc)
            store.close()
            raise
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

    app = FastAPI(
        title="HCC second-line sequencing CDS service",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(router)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_allowed_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        max_age=600,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
