"""`/metrics` with `cds-service serve --workers 2`: every worker's counts, whichever worker answers.

prometheus_client's multiprocess mode: each worker writes its values to PROMETHEUS_MULTIPROC_DIR and
`/metrics` adds them up. Without it a scrape would see one worker's share only.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
from prometheus_client.mmap_dict import MmapedDict

from cds_service.hooks.services import ORDER_SELECT_ID
from tests.conftest import load_request
from tests.service_process import ServiceProcess

# prometheus_client's multiprocess file reader, given the type it has (the library leaves it unannotated).
_read_values: Callable[[str], Iterable[tuple[str, float, float, int]]] = MmapedDict.read_all_values_from_file

SERVICE = f"/cds-services/{ORDER_SELECT_ID}"
REQUESTS_MAX = 200


def sample(text: str, name: str, labels: str) -> float:
    found = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def workers_that_served(folder: Path) -> int:
    """How many worker processes recorded a hook call (one histogram file per process id)."""
    served = 0
    for path in folder.glob("histogram_*.db"):
        labels = [json.loads(key)[2] for key, *_ in _read_values(str(path))]
        served += any(label.get("endpoint") == "service" for label in labels)
    return served


def test_metrics_add_up_every_worker(tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"left by a previous run")  # must not be read
    service = ServiceProcess(
        "workers",
        {
            "CDS_ENVIRONMENT": "development",
            "CDS_AUTH_DISABLED": "true",
            "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
            "CDS_LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(folder),
        },
        tmp_path,
        workers=2,
    )
    request = load_request("01-")
    sent = 0
    cards = 0
    service.start()
    try:
        deadline = time.monotonic() + 60
        while (sent < 20 or workers_that_served(folder) < 2) and sent < REQUESTS_MAX and time.monotonic() < deadline:
            # A new connection each time, so the kernel hands calls to either worker.
            answer = httpx.post(service.url + SERVICE, json=request, timeout=10)
            assert answer.status_code == 200
            cards += len(answer.json()["cards"])
            sent += 1
        assert workers_that_served(folder) == 2, f"one worker took all {sent} calls"
        assert not (folder / "counter_999999.db").exists()
        labels = f'endpoint="service",service="{ORDER_SELECT_ID}",status="200"'
        for _ in range(6):  # scrapes land on either worker; each must see the total
            text = httpx.get(service.url + "/metrics", timeout=10).text
            assert sample(text, "cds_http_request_duration_seconds_count", labels) == sent
            card_total = sum(
                sample(text, "cds_cards_total", f'indicator="{indicator}",service="{ORDER_SELECT_ID}"')
                for indicator in ("info", "warning", "critical")
            )
            assert card_total == cards
    finally:
        service.stop()
