"""Two replicas, one PostgreSQL, one Redis: the topology of deploy/ and compose.yaml, proved on loopback.

Two real `cds-service serve` processes in production mode share the database (migrated once with
`cds-service db upgrade`, as the migration Job does) and the Redis replay cache. A token is accepted by
exactly one of them; feedback sent through both is stored once; killing one replica mid-load loses no
report that was acknowledged (each report is retried on the other replica, as a load balancer does).
Bounded: at most about a minute. Needs CDS_TEST_POSTGRES_URL and CDS_TEST_REDIS_URL (skipped otherwise,
failed under CI=true).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from cds_service.hooks.services import ORDER_SELECT_ID
from cds_service.store.schema import feedback_table
from tests.service_process import ServiceProcess, run_cli
from tests.support.tokens import EC_KEY, client_token, public_jwk
from tests.support.tokens import bearer as support_bearer

PUBLIC_BASE = "https://cds.hospital.example"  # behind the proxy both replicas are one URL
EHR = "https://ehr.example.org"
DISCOVERY = "/cds-services"
FEEDBACK = f"/cds-services/{ORDER_SELECT_ID}/feedback"
LOAD_SECONDS_MAX = 45


def bearer(path: str) -> dict[str, str]:
    return support_bearer(client_token(PUBLIC_BASE + path, kid="ehr-1", iss=EHR))


def report(card: str) -> dict[str, Any]:
    item = {"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-11-25T10:00:00Z"}
    return {"feedback": [{**item, "acceptedSuggestions": [{"id": "s-1"}]}]}


@pytest.fixture
def replicas(postgres_schema_url: str, redis_url: str, tmp_path: Path) -> Iterator[list[ServiceProcess]]:
    jwk = public_jwk(EC_KEY.public_key(), "ehr-1", "ES384")
    registry = tmp_path / "clients.yaml"
    registry.write_text(json.dumps({"clients": [{"iss": EHR, "jwks": {"keys": [jwk]}}]}), encoding="utf-8")
    env = {
        "CDS_ENVIRONMENT": "production",
        "CDS_PUBLIC_BASE_URL": PUBLIC_BASE,
        "CDS_DATABASE_URL": postgres_schema_url,
        "CDS_REPLAY_CACHE": "redis",
        "CDS_REDIS_URL": redis_url,
        "CDS_CLIENT_REGISTRY_PATH": str(registry),
        "CDS_LOG_LEVEL": "WARNING",
    }
    refused = run_cli(env, "serve", "--port", "1")
    assert refused.returncode == 2
    assert "run `cds-service db upgrade`" in refused.stderr  # a replica never migrates PostgreSQL itself
    migrated = run_cli(env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    started = [ServiceProcess(name, env, tmp_path) for name in ("replica-a", "replica-b")]
    try:
        for replica in started:
            replica.launch()
        for replica in started:
            replica.wait_ready()
        yield started
    finally:
        for replica in started:
            replica.stop()


def stored(database_url: str, cards: set[str] | None = None) -> int:
    engine = create_engine(database_url)
    query = select(func.count()).select_from(feedback_table)
    if cards is not None:
        query = query.where(feedback_table.c.card_uuid.in_(cards))
    with engine.connect() as connection:
        count = int(connection.execute(query).scalar_one())
    engine.dispose()
    return count


def test_two_replicas_share_replay_protection_feedback_and_survive_a_restart(
    replicas: list[ServiceProcess], postgres_schema_url: str
) -> None:
    second = replicas[1]

    # The same signed token sent to both replicas at the same moment: exactly one is admitted.
    with ThreadPoolExecutor(2) as pool:
        for _ in range(5):
            headers = bearer(DISCOVERY)
            answers = pool.map(
                lambda r, h=headers: httpx.get(r.url + DISCOVERY, headers=h, timeout=10),
                replicas,
            )
            assert sorted(a.status_code for a in answers) == [200, 401]

    # Every report sent through both replicas is stored once.
    cards = {f"both-{i}" for i in range(20)}
    for card in sorted(cards):
        for replica in replicas:
            answer = httpx.post(replica.url + FEEDBACK, json=report(card), headers=bearer(FEEDBACK), timeout=10)
            assert answer.status_code == 200, answer.text
    assert stored(postgres_schema_url, cards) == 20

    # Load through both; the second replica is killed (SIGKILL) and restarted while reports flow.
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()
    restarted = threading.Event()
    counter = iter(range(1_000_000))
    after_restart = {"second": 0}

    def send_reports() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                with lock:
                    number = next(counter)
                card = f"load-{number}"
                for attempt in range(6):
                    replica = replicas[(number + attempt) % 2]  # alternate; on failure, the other one
                    try:
                        answer = client.post(replica.url + FEEDBACK, json=report(card), headers=bearer(FEEDBACK))
                    except httpx.TransportError:
                        time.sleep(0.05)
                        continue
                    if answer.status_code == 200:
                        with lock:
                            acknowledged[card] = replica.name
                            if replica is second and restarted.is_set():
                                after_restart["second"] += 1
                        break

    deadline = time.monotonic() + LOAD_SECONDS_MAX
    with ThreadPoolExecutor(4) as pool:
        senders = [pool.submit(send_reports) for _ in range(4)]
        try:
            while len(acknowledged) < 40 and time.monotonic() < deadline:
                time.sleep(0.05)
            before_kill = len(acknowledged)
            started_at = time.monotonic()
            second.stop(signal.SIGKILL)
            second.start()
            restarted.set()
            while_down = len(acknowledged) - before_kill
            print(f"killed and restarted in {time.monotonic() - started_at:.1f} s after {before_kill} reports")
            while after_restart["second"] < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            for sender in senders:
                sender.result(timeout=30)

    print(f"{len(acknowledged)} reports acknowledged")
    assert before_kill >= 40, "load did not get going before the restart"
    assert while_down > 0, "no report was acknowledged while the second replica was down"
    assert after_restart["second"] >= 20, "the restarted replica did not take load again"
    assert len(acknowledged) > before_kill + 20
    load_cards = set(acknowledged)
    assert stored(postgres_schema_url, load_cards) == len(load_cards)  # every acknowledged report, once
    assert stored(postgres_schema_url) >= 20 + len(load_cards)
