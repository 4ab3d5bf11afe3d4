"""The pilot's pharmacist review queue: filled from the hook calls, worked in a page at ``/review``.

The page needs the operator token (``CDS_OPERATOR_TOKEN``): as a Bearer token, or as the password of HTTP
Basic authentication, whose user name is recorded as the reviewer (a browser asks for both). Without a review
queue key or an operator token the page does not exist (404). Each form carries a token derived from the
operator token and the card, so another site cannot post a verdict through a reviewer's browser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from html import escape
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from cds_service.api.review_page import REVIEW_PATH, review_page_html
from cds_service.api.state import AppState, get_state
from cds_service.errors import InvalidRequest, UnknownService
from cds_service.hooks.models import HookRequest
from cds_service.hooks.pipeline import HookOutcome
from cds_service.hooks.services import ServiceDefinition
from cds_service.store.feedback import FeedbackRecord
from cds_service.store.order_events import OrderEvent, patient_key, record_order_events
from cds_service.store.review_queue import (
    COMMITTEE_OVERRIDE,
    NewReviewItem,
    ReviewQueue,
    ReviewQueueError,
    queued_because,
)

logger = logging.getLogger("cds_service.review")

router = APIRouter()
State = Annotated[AppState, Depends(get_state)]

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
VIEWS = ("pending", "all", "committee")


def review_items(
    service: ServiceDefinition, request: HookRequest, result: HookOutcome, percent: int
) -> list[NewReviewItem]:
    """The cards of one hook call that go to the review queue, with the chart references of its context."""
    patient_id = request.context.get("patientId")
    encounter_id = request.context.get("encounterId")
    items = []
    for issued in result.issued:
        card = issued.card
        why = queued_because(card.indicator, card.uuid, percent)
        if why is None:
            continue
        items.append(
            NewReviewItem(
                card_uuid=card.uuid,
                service_id=service.id,
                hook=service.hook,
                indicator=card.indicator,
                queued_because=why,
                knowledge_version=result.knowledge_version,
                patient=f"Patient/{patient_id}" if isinstance(patient_id, str) else None,
                encounter=f"Encounter/{encounter_id}" if isinstance(encounter_id, str) and encounter_id else None,
                card=card.model_dump(mode="json", exclude_none=True),
            )
        )
    return items


def record_for_pilot(state: AppState, service: ServiceDefinition, request: HookRequest, result: HookOutcome) -> None:
    """With the site key set: queue the call's reviewable cards, and record an order hook's call under the
    patient's pseudonym (both off the request path)."""
    writer, queue, key = state.pilot_writer, state.review_queue, state.site_key
    if writer is None or queue is None or key is None:
        return
    if result.issued:
        percent = state.knowledge.pilot.review_queue.info_sample_percent
        writer.submit(queue.add, review_items(service, request, result, percent))
    patient_id = request.context.get("patientId")
    if service.hook != "patient-view" and result.recommendation is not None and isinstance(patient_id, str):
        event = OrderEvent(
            service_id=service.id,
            hook_instance=request.hookInstance,
            hook=service.hook,
            patient_key=patient_key(key, patient_id),
            selected=result.selected,
            knowledge_version=result.knowledge_version,
        )
        writer.submit(lambda events: record_order_events(queue.engine, events), [event])


def _token(state: AppState) -> str:
    token = state.settings.operator_token.get_secret_value() if state.settings.operator_token else ""
    if state.review_queue is None or not token:
        raise UnknownService("No review queue is kept by this service (CDS_REVIEW_QUEUE_KEY, CDS_OPERATOR_TOKEN)")
    return token


def _queue(state: AppState) -> ReviewQueue:
    if state.review_queue is None:
        raise UnknownService("No review queue is kept by this service (CDS_REVIEW_QUEUE_KEY)")
    return state.review_queue


def reviewer(request: Request, state: State) -> str:
    """The operator token as Bearer, or as the Basic password; returns the Basic user name ("" for Bearer)."""
    token = _token(state)
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
        return ""
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        if hmac.compare_digest(password.encode(), token.encode()):
            return user
    raise HTTPException(401, "Unauthorized", headers={"WWW-Authenticate": 'Basic realm="review", charset="UTF-8"'})


Reviewer = Annotated[str, Depends(reviewer)]


def form_token(token: str, card_uuid: str) -> str:
    return hmac.new(token.encode(), f"review:{card_uuid}".encode(), hashlib.sha256).hexdigest()


@router.get(REVIEW_PATH, response_class=HTMLResponse, include_in_schema=False)
async def review_page(state: State, user: Reviewer, view: str = "pending", recorded: str = "") -> HTMLResponse:
    """The queue: cards to review (default), all of them, or the committee's queue."""
    if view not in VIEWS:
        raise InvalidRequest(f"view must be one of {', '.join(VIEWS)}")
    queue = _queue(state)
    items = await run_in_threadpool(queue.items, pending_only=view == "pending", committee_only=view == "committee")
    token = _token(state)
    html = review_page_html(
        items,
        form_token=lambda card_uuid: form_token(token, card_uuid),
        pilot=state.knowledge.pilot.describe(),
        knowledge=state.knowledge.version,
        view=view,
        retention_days=state.knowledge.pilot.review_queue.retention_days,
    )
    if recorded:
        status = f'<p class="done" role="status">Verdict recorded ({escape(recorded[:36])}).</p>'
        html = html.replace("<nav>", f"{status}<nav>", 1)
    return HTMLResponse(html, headers=_HEADERS)


@router.post(REVIEW_PATH + "/{card_uuid}", include_in_schema=False)
async def record_verdict(card_uuid: str, request: Request, state: State, user: Reviewer) -> RedirectResponse:
    """A verdict from the page's form (urlencoded): verdict, reason_code, note, form_token."""
    fields = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    if not hmac.compare_digest(fields.get("form_token", ""), form_token(_token(state), card_uuid)):
        raise HTTPException(403, "The form is not this service's (reload the review page)")
    queue = _queue(state)
    try:
        await run_in_threadpool(
            queue.record_verdict,
            card_uuid,
            fields.get("verdict", ""),
            fields.get("reason_code", ""),
            fields.get("note"),
            user or None,
        )
    except ReviewQueueError as exc:
        raise InvalidRequest(str(exc)) from exc
    logger.info("review verdict recorded", extra={"card_uuid": card_uuid, "verdict": fields.get("verdict")})
    return RedirectResponse(f"{REVIEW_PATH}?recorded={quote(card_uuid)}", status_code=303, headers=_HEADERS)


async def flag_committee_overrides(state: AppState, records: list[FeedbackRecord]) -> None:
    """An override "disagrees with the evidence" (CDS Hooks 3.0 ballot category) puts the card in the
    committee's queue (when it was queued for review)."""
    queue = state.review_queue
    if queue is None:
        return
    for record in records:
        if record.outcome == "overridden" and record.override_reason_code == COMMITTEE_OVERRIDE:
            flagged = await run_in_threadpool(queue.flag_for_committee, record.card_uuid, COMMITTEE_OVERRIDE)
            logger.info("committee queue", extra={"card_uuid": record.card_uuid, "flagged": flagged})
