"""Public knowledge pages (no authentication: they hold the knowledge base only, never patient data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from cds_service.api.knowledge_page import SETTINGS_PATH, setting_html, settings_index_html
from cds_service.api.state import AppState, get_state
from cds_service.errors import UnknownService
from cds_service.knowledge import SettingId

router = APIRouter()
State = Annotated[AppState, Depends(get_state)]

# The pages link out to trial registries and publications; they load nothing from anywhere.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=300",
}


@router.get(SETTINGS_PATH, response_class=HTMLResponse)
async def knowledge_settings(state: State) -> HTMLResponse:
    """Every treatment setting of the knowledge base, each linking to its page."""
    return HTMLResponse(settings_index_html(state.knowledge), headers=_HEADERS)


@router.get(SETTINGS_PATH + "/{setting}", response_class=HTMLResponse)
async def knowledge_setting(setting: str, state: State) -> HTMLResponse:
    """One setting: the decision-table rows, the trials behind them and the later-evidence notes."""
    try:
        setting_id = SettingId(setting)
    except ValueError as exc:
        known = ", ".join(s.value for s in SettingId)
        raise UnknownService(f"No treatment setting {setting!r}; known: {known}") from exc
    return HTMLResponse(setting_html(state.knowledge, setting_id), headers=_HEADERS)
