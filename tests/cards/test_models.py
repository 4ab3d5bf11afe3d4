"""The response models refuse what CDS Hooks 2.0 forbids."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cds_service.cards.common import fit_summary
from cds_service.cards.models import Action, Card, CdsResponse, Link, Suggestion

UUID = "6f1c1f55-33a4-4b8e-9a51-2d0f3c8e7a10"


def card(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"uuid": UUID, "summary": "S", "indicator": "info", "source": {"label": "Review"}}
    base.update(overrides)
    return base


def suggestion(recommended: bool | None = None) -> dict[str, Any]:
    return {
        "label": "Do",
        "uuid": UUID,
        "isRecommended": recommended,
        "actions": [{"type": "delete", "description": "Remove", "resourceId": "MedicationRequest/1"}],
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"summary": "x" * 140}, "at most 139"),
        ({"summary": ""}, "at least 1"),
        ({"indicator": "hard-stop"}, "indicator"),
        ({"source": {}}, "label"),
        ({"uuid": "not-a-uuid"}, "uuid"),
        ({"suggestions": [suggestion()]}, "selectionBehavior"),
        ({"suggestions": [suggestion(True), suggestion(True)], "selectionBehavior": "at-most-one"}, "at most one"),
        ({"suggestions": []}, "at least 1"),
        ({"links": []}, "at least 1"),
        ({"overrideReasons": [{"system": "s", "code": "c"}]}, "display"),
        ({"links": [{"label": "L", "url": "https://x", "type": "absolute", "appContext": "a"}]}, "appContext"),
    ],
    ids=[
        "summary-140",
        "summary-empty",
        "indicator",
        "source-label",
        "uuid",
        "no-selection-behavior",
        "two-recommended",
        "empty-suggestions",
        "empty-links",
        "override-display",
        "appcontext-absolute",
    ],
)
def test_card_refuses_non_conformant_values(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Card.model_validate(card(**overrides))


def test_delete_uses_resource_id_and_create_carries_a_resource() -> None:
    with pytest.raises(ValidationError, match="resourceId"):
        Action(type="delete", description="d", resource={"resourceType": "MedicationRequest"})
    with pytest.raises(ValidationError, match="carries the resource"):
        Action(type="create", description="d")


def test_serialised_response_has_no_nulls() -> None:
    response = CdsResponse(
        cards=[
            Card.model_validate(
                card(
                    suggestions=[suggestion()],
                    selectionBehavior="any",
                    links=[Link(label="L", url="https://x", type="absolute")],
                )
            )
        ]
    )
    body = response.to_json()
    suggestion_json = body["cards"][0]["suggestions"][0]
    assert "isRecommended" not in suggestion_json
    assert "detail" not in body["cards"][0]
    assert "systemActions" not in body
    assert Suggestion.model_validate(suggestion_json).label == "Do"


@pytest.mark.parametrize("length", [10, 139, 140, 400])
def test_fit_summary_stays_under_140_characters(length: int) -> None:
    text = " ".join(["word"] * (length // 5 + 1))[:length]
    fitted = fit_summary(text)
    assert len(fitted) < 140
    if length <= 139:
        assert fitted == text
    else:
        assert not fitted.endswith("…")  # builders put the decisive fact first; nothing hides behind an ellipsis
