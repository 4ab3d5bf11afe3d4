"""Send a scenario's hook request to the service through its HTTP API (in-process, auth off, date pinned)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import SERVICE_ID_BY_HOOK
from tests.clinical_scenarios.fhir import hook_request
from tests.clinical_scenarios.model import Scenario

SERVICE_BY_HOOK = SERVICE_ID_BY_HOOK


class ScenarioRunner:
    """One service per evaluation date ("today" is the scenario's ``as_of``)."""

    def __init__(self, stack: contextlib.ExitStack, workdir: Path) -> None:
        self._stack = stack
        self._workdir = workdir
        self._clients: dict[dt.date, TestClient] = {}

    def client(self, as_of: dt.date) -> TestClient:
        if as_of not in self._clients:
            settings = Settings(
                environment="development",
                database_url=f"sqlite:///{self._workdir / f'feedback-{as_of.isoformat()}.sqlite3'}",
                log_level="ERROR",
                auth_disabled=True,
            )
            app = create_app(settings, clock=lambda: as_of)
            self._clients[as_of] = self._stack.enter_context(TestClient(app))
        return self._clients[as_of]

    def cards(self, scenario: Scenario) -> list[dict[str, Any]]:
        """The cards the service answers for this scenario (a non-200 answer is an error)."""
        response = self.client(scenario.as_of).post(
            f"/cds-services/{SERVICE_BY_HOOK[scenario.hook]}", json=hook_request(scenario)
        )
        if response.status_code != 200:
            raise AssertionError(f"{scenario.id}: HTTP {response.status_code}: {response.text}")
        cards: list[dict[str, Any]] = response.json()["cards"]
        return cards


@contextlib.contextmanager
def scenario_runner() -> Iterator[ScenarioRunner]:
    with contextlib.ExitStack() as stack, TemporaryDirectory() as workdir:
        yield ScenarioRunner(stack, Path(workdir))
