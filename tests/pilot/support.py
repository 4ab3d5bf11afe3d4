"""A service with pilot switches, a review queue key and an operator token, in process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.store.review_queue import ReviewItem, ReviewQueue, new_key
from tests.conftest import AS_OF

OPERATOR_TOKEN = "pilot-operator-token-0123456789abcdef"
REVIEW_KEY = new_key()


def pilot_settings(tmp_path: Path, site: str | None, *, database_url: str | None = None, **extra: Any) -> Settings:
    site_file = None
    if site is not None:
        site_file = tmp_path / "site.yaml"
        site_file.write_text(site, encoding="utf-8")
    return Settings(
        environment="development",
        auth_disabled=True,
        database_url=database_url or f"sqlite:///{tmp_path / 'store.sqlite3'}",
        log_level="WARNING",
        site_parameters_path=site_file,
        review_queue_key=REVIEW_KEY,
        operator_token=OPERATOR_TOKEN,
        **extra,
    )


@contextmanager
def pilot_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        yield client


def queued(settings: Settings, *, expected: int, timeout: float = 5.0) -> list[ReviewItem]:
    """The review queue once ``expected`` entries were written (the writer works off the request path)."""
    engine = create_engine(settings.database_url)
    queue = ReviewQueue(engine, REVIEW_KEY)
    deadline = time.monotonic() + timeout
    try:
        while True:
            items = queue.items()
            if len(items) >= expected or time.monotonic() > deadline:
                return items
            time.sleep(0.05)
    finally:
        engine.dispose()
