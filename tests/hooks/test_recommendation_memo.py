"""Repeated calls of an ordering session reuse the recommendation; any change computes it again."""

from __future__ import annotations

import asyncio
import copy
from datetime import date
from typing import Any

import pytest

import cds_service.hooks.pipeline as pipeline_module
from cds_service.config import Settings
from cds_service.hooks.models import HookRequest
from cds_service.hooks.pipeline import HookPipeline
from cds_service.hooks.services import ORDER_SELECT_ID, service_definitions
from cds_service.knowledge import Knowledge
from cds_service.sequencing import engine
from tests.conftest import load_request


def _counting_recommend(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = engine.recommend  # the function the pipeline imported

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "recommend", counting)
    return calls


def _summaries(pipeline: HookPipeline, knowledge: Knowledge, request: dict[str, Any]) -> list[str]:
    service = service_definitions(knowledge)[ORDER_SELECT_ID]
    outcome = asyncio.run(pipeline.run(service, HookRequest.model_validate(copy.deepcopy(request))))
    return [card.summary for card in outcome.response.cards]


def test_a_repeated_call_reuses_the_recommendation_and_a_changed_one_computes_it(
    knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting_recommend(monkeypatch)
    days = iter([date(2026, 11, 25)] * 3 + [date(2026, 11, 26)])
    settings = Settings(environment="development", auth_disabled=True)
    pipeline = HookPipeline(knowledge, settings, clock=lambda: next(days))
    request = load_request("04-")  # regorafenib after sorafenib intolerance: a warning
    first = _summaries(pipeline, knowledge, request)
    assert _summaries(pipeline, knowledge, {**request, "hookInstance": "another-call"}) == first
    assert len(calls) == 1
    other_order = copy.deepcopy(request)
    order = other_order["context"]["draftOrders"]["entry"][0]["resource"]
    order["medicationCodeableConcept"] = {"text": "cabozantinib 60 MG Oral Tablet"}
    changed = _summaries(pipeline, knowledge, other_order)
    assert len(calls) == 2
    assert changed != first  # cabozantinib fits: no warning
    assert _summaries(pipeline, knowledge, request) == first  # another day: computed again
    assert len(calls) == 3


def test_no_memo_when_the_facts_cache_is_off(knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_recommend(monkeypatch)
    settings = Settings(environment="development", auth_disabled=True, facts_cache_size=0)
    pipeline = HookPipeline(knowledge, settings, clock=lambda: date(2026, 11, 25))
    request = load_request("04-")
    assert _summaries(pipeline, knowledge, request) == _summaries(pipeline, knowledge, request)
    assert len(calls) == 2
