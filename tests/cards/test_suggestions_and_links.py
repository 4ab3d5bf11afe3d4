"""Replacements any client can apply (first action places the drug) and a card's few links."""

from __future__ import annotations

import pytest

from cds_service.cards.common import CardContext, card_source
from cds_service.cards.drafts import medication_concept
from cds_service.cards.links import MAX_CARD_LINKS, capped_links, knowledge_page_url
from cds_service.cards.suggestions import by_hand_note, replacement_actions
from cds_service.knowledge import Knowledge

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
DRAFT = "MedicationRequest/request-123"


@pytest.fixture
def ctx(knowledge: Knowledge) -> CardContext:
    return CardContext(knowledge, "p1", "hook-1", "http://127.0.0.1:8000/CodeSystem/override-reason", "http://x")


def test_one_agent_is_a_single_update_of_the_selected_draft(ctx: CardContext) -> None:
    replacement = replacement_actions((DRAFT,), ("cabozantinib",), ctx)
    [action] = replacement.actions
    assert action.type == "update"
    assert action.resourceId == DRAFT
    assert action.resource is not None
    assert action.resource["id"] == "request-123"
    assert action.resource["subject"] == {"reference": "Patient/p1"}
    concept = action.resource["medicationCodeableConcept"]
    assert concept["coding"][0] == {"system": RXNORM, "code": "1363271", "display": "cabozantinib Pill"}
    assert concept["text"] == "cabozantinib tablets (Cabometyx 60 MG)"  # policy 6.5: names the tablets
    assert replacement.by_hand == ()


def test_multi_agent_regimen_updates_with_a_coded_agent_first_then_creates(ctx: CardContext) -> None:
    replacement = replacement_actions((DRAFT,), ("ipilimumab", "nivolumab"), ctx)
    first, second = replacement.actions
    assert (first.type, first.resourceId) == ("update", DRAFT)
    assert first.resource is not None
    assert first.resource["medicationCodeableConcept"]["coding"][0]["code"] == "1597876"  # nivolumab (ingredient)
    assert second.type == "create"
    assert second.resource is not None
    assert second.resource["medicationCodeableConcept"] == {"text": "ipilimumab"}
    assert "id" not in second.resource
    assert replacement.by_hand == ("ipilimumab",)


def test_agent_without_a_code_stays_text_and_is_placed_by_hand(ctx: CardContext) -> None:
    replacement = replacement_actions((DRAFT,), ("ramucirumab",), ctx)
    [action] = replacement.actions
    assert action.resource is not None
    assert action.resource["medicationCodeableConcept"] == {"text": "ramucirumab"}
    assert replacement.by_hand == ("ramucirumab",)
    note = by_hand_note(replacement.by_hand)
    assert note is not None
    assert "ramucirumab" in note
    assert "placed by hand" in note
    assert by_hand_note(()) is None


def test_a_dstu2_draft_is_replaced_by_create_first_then_delete(ctx: CardContext) -> None:
    actions = replacement_actions(("MedicationOrder/order-123",), ("regorafenib",), ctx).actions
    assert [a.type for a in actions] == ["create", "delete"]
    assert actions[0].resource is not None
    assert actions[0].resource["medicationCodeableConcept"]["coding"][0]["code"] == "1312402"
    assert actions[1].resourceId == "MedicationOrder/order-123"


def test_extra_selected_drafts_are_removed_after_the_drug_is_placed(ctx: CardContext) -> None:
    actions = replacement_actions((DRAFT, "MedicationRequest/request-456"), ("sorafenib",), ctx).actions
    assert [(a.type, a.resourceId) for a in actions] == [("update", DRAFT), ("delete", "MedicationRequest/request-456")]


def test_ingredient_codes_say_they_are_the_ingredient(knowledge: Knowledge) -> None:
    assert medication_concept("bevacizumab", knowledge) == {
        "text": "bevacizumab",
        "coding": [{"system": RXNORM, "code": "253337", "display": "bevacizumab"}],
    }


def test_links_are_capped_with_the_evidence_page_last(knowledge: Knowledge) -> None:
    page = knowledge_page_url("http://127.0.0.1:9000/", "after_sorafenib")
    assert page == "http://127.0.0.1:9000/knowledge/settings/after_sorafenib"
    trials = list(knowledge.evidence.trials)
    links = capped_links([*trials, *trials], knowledge, page)
    assert len(links) == MAX_CARD_LINKS
    assert links[-1].url == page
    assert [link.url for link in links[:-1]] == [
        knowledge.evidence.trials[t].registry_url or knowledge.evidence.trials[t].publication_url
        for t in trials[: MAX_CARD_LINKS - 1]
    ]
    assert capped_links(["CELESTIAL"], knowledge, page)[0].url == "https://clinicaltrials.gov/study/NCT01908426"
    assert card_source(knowledge, page).url == page
    assert knowledge_page_url("https://cds.example.org", None) == "https://cds.example.org/knowledge/settings"
