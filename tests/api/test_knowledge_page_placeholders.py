"""The public evidence pages every card links to never show a raw ``{placeholder}`` of a rule's template."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from cds_service.api.knowledge_page import SETTINGS_PATH
from cds_service.knowledge import SettingId

PAGES = [SETTINGS_PATH, *(f"{SETTINGS_PATH}/{setting.value}" for setting in SettingId)]


def visible(html: str) -> str:
    """The page without its style sheet (CSS rules are braces too)."""
    return re.sub(r"<style>.*?</style>", "", html, flags=re.S)


@pytest.mark.parametrize("path", PAGES)
def test_no_page_shows_a_raw_placeholder(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert re.findall(r"\{[^{}<>]*\}", visible(response.text)) == []


def test_a_rule_reads_with_its_parameter_value_and_a_description_of_the_patient_value(client: TestClient) -> None:
    page = visible(client.get(f"{SETTINGS_PATH}/after_sorafenib").text)
    assert (
        "Ramucirumab with AFP below the cut-off: <em>the patient&#x27;s latest AFP</em> is below 400 ng/mL; "
        "ramucirumab is supported only at AFP ≥ 400 ng/mL (REACH-2)." in page
    )
