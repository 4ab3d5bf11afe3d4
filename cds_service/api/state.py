"""What the app builds once at start-up and hands to every request."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from cds_service.api.metrics import Metrics
from cds_service.config import Settings
from cds_service.data.server_guard import ServerGuards
from cds_service.hooks.pipeline import HookPipeline
from cds_service.hooks.services import ServiceDefinition
from cds_service.knowledge import Knowledge
from cds_service.security.jwt_auth import ClientAuthenticator
from cds_service.store.feedback import FeedbackStore, IssuedCardWriter
from cds_service.store.review_queue import BackgroundWriter, ReviewQueue


@dataclass
class AppState:
    settings: Settings
    knowledge: Knowledge
    services: dict[str, ServiceDefinition]
    pipeline: HookPipeline
    store: FeedbackStore
    authenticator: ClientAuthenticator | None  # None only when authentication is disabled (development)
    issued_cards: IssuedCardWriter
    metrics: Metrics
    fhir_guards: ServerGuards | None = None  # the FHIR servers called, each with its bulkhead and breaker
    review_queue: ReviewQueue | None = None  # the pilot's pharmacist review queue (CDS_REVIEW_QUEUE_KEY set)
    pilot_writer: BackgroundWriter | None = None  # writes queue entries and order events off the request path
    site_key: str | None = None  # CDS_REVIEW_QUEUE_KEY: seals the queue, keys the patient pseudonym


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.cds
    return state
