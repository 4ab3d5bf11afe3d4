"""``card_uuid`` is ``uuid.uuid5`` of the call's hook instance and the card's parts, byte for byte."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from cds_service.cards.common import CARD_NAMESPACE, card_uuid

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)


@given(_TEXT, st.lists(_TEXT, max_size=4))
def test_card_uuid_is_uuid5(hook_instance: str, parts: list[str]) -> None:
    assert card_uuid(hook_instance, *parts) == str(uuid.uuid5(CARD_NAMESPACE, ":".join((hook_instance, *parts))))
