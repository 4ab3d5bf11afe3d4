"""The fallback fetch against real listeners on loopback, counting connections: URLs are compared as
origin plus path segments, so a next page or redirect elsewhere is never contacted, and the EHR's token
never leaves the allowlisted base; bodies are cut at the byte cap while streaming (issue 13, item 1 and 5)."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from cds_service.data.fhir_client import FetchLimits, HttpFhirFetcher, ServerPolicy
from cds_service.data.prefetch import FetchOutcome, FetchRequest, PrefetchSpec
from cds_service.data.server_urls import ServerUrl, UrlRefused
from tests.loopback import CountingServer, send_json

TOKEN = "ehr-access-token-must-stay-home"
CONDITIONS = PrefetchSpec("conditions", "Condition?patient={{context.patientId}}", "conditions", required=True)
CONDITION = {"resourceType": "Condition", "id": "c1"}


def page(next_url: str | None) -> bytes:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": CONDITION}]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return json.dumps(bundle).encode()


def fetch(base: str, allowed: str, limits: FetchLimits | None = None) -> FetchOutcome:
    async def go() -> FetchOutcome:
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as client:
            fetcher = HttpFhirFetcher(client, ServerPolicy((allowed,), allow_http=True), limits or FetchLimits())
            return await fetcher.fetch_missing([CONDITIONS], FetchRequest(base, TOKEN, {"patientId": "p1"}))

    return asyncio.run(go())


def _prefix_ports() -> tuple[int, int]:
    """Two free loopback ports where the second's digits extend the first's (4123 and 41235), so that a
    string-prefix comparison would take one for the other."""
    for first in random.sample(range(1024, 6553), 200):
        for digit in range(10):
            second = first * 10 + digit
            try:
                with socket.socket() as a, socket.socket() as b:
                    a.bind(("127.0.0.1", first))
                    b.bind(("127.0.0.1", second))
            except OSError:
                continue
            return first, second
    raise RuntimeError("no free pair of loopback ports")


@pytest.fixture
def ports() -> tuple[int, int]:
    return _prefix_ports()


@pytest.fixture
def decoy(ports: tuple[int, int]) -> Iterator[CountingServer]:
    """Another port on the same host, whose number extends the EHR's: never to be contacted."""
    with CountingServer(lambda h: send_json(h, page(None)), port=ports[1]) as server:
        yield server


@pytest.fixture
def decoy_host() -> Iterator[CountingServer]:
    """Another loopback address (127.0.0.10): never to be contacted."""
    with CountingServer(lambda h: send_json(h, page(None)), host="127.0.0.10") as server:
        yield server


@pytest.mark.parametrize(
    "next_template",
    [
        "http://127.0.0.1:{decoy}/x",  # another port on the allowlisted host (its number extends the EHR's)
        "http://127.0.0.1:{ehr}@127.0.0.10:{decoy_host}/x",  # userinfo: the real host is after the @
        "http://127.0.0.10:{decoy_host}/x",  # another host
        "http://127.0.0.1:{decoy}/Condition?page=2",
        "https://127.0.0.1:{ehr}/Condition?page=2",  # another scheme
    ],
)
def test_next_page_off_the_allowlisted_origin_is_never_contacted(
    ports: tuple[int, int], decoy: CountingServer, decoy_host: CountingServer, next_template: str
) -> None:
    next_url = next_template.format(ehr=ports[0], decoy=decoy.port, decoy_host=decoy_host.port)
    with CountingServer(lambda h: send_json(h, page(next_url)), port=ports[0]) as ehr:
        outcome = fetch(ehr.base, ehr.base)  # a base with no path, as in the attack run
        assert "another server" in outcome.failures["conditions"]
        assert len(ehr.seen.requests) == 1
    assert decoy.seen.connections == 0
    assert decoy_host.seen.connections == 0


@pytest.mark.parametrize("evil_path", ["/okEVIL/Condition", "/ok/%2e%2e/evil/Condition", "/o/Condition", "/"])
def test_next_page_outside_the_base_path_is_not_followed(evil_path: str) -> None:
    with CountingServer(lambda h: send_json(h, page(evil_path_url))) as ehr:
        evil_path_url = f"{ehr.base}{evil_path}"
        outcome = fetch(f"{ehr.base}/ok", f"{ehr.base}/ok/")
        paths = [path for path, _ in ehr.seen.requests]
    assert paths == ["/ok/Condition?patient=p1"]
    assert "conditions" in outcome.failures


def test_next_page_under_the_base_is_followed_with_the_token() -> None:
    base: list[str] = []

    def respond(handler: BaseHTTPRequestHandler) -> None:
        first = handler.path.startswith("/ok/Condition")
        send_json(handler, page(f"{base[0]}/ok?_getpages=abc&page=2" if first else None))

    with CountingServer(respond) as origin:
        base.append(origin.base)
        outcome = fetch(f"{origin.base}/ok", f"{origin.base}/ok")
        requests = origin.seen.requests
    assert outcome.failures == {}
    assert len(outcome.values["conditions"]["entry"]) == 2
    assert [path for path, _ in requests] == ["/ok/Condition?patient=p1", "/ok?_getpages=abc&page=2"]
    assert all(headers["authorization"] == f"Bearer {TOKEN}" for _, headers in requests)


def test_redirect_is_not_followed_and_its_target_never_contacted(decoy: CountingServer) -> None:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        send_json(handler, b"", status=302, headers={"Location": f"{decoy.base}/Condition?patient=p1"})

    with CountingServer(respond) as ehr:
        outcome = fetch(ehr.base, ehr.base)
    assert "redirect" in outcome.failures["conditions"]
    assert decoy.seen.connections == 0


@pytest.mark.parametrize(
    "server_template",
    [
        "http://127.0.0.1:{ehr}@127.0.0.10:{decoy_host}",  # userinfo
        "http://127.0.0.10:{decoy_host}",  # another host
        "http://127.0.0.1:{ehr}/okEVIL",  # a string prefix of the allowlisted /ok
        "http://127.0.0.1:{ehr}/ok/more",  # a fhirServer must be the allowlisted base itself
    ],
)
def test_fhir_server_not_exactly_on_the_allowlist_gets_no_connection(
    decoy_host: CountingServer, server_template: str
) -> None:
    with CountingServer(lambda h: send_json(h, page(None))) as ehr:
        server = server_template.format(ehr=ehr.port, decoy_host=decoy_host.port)
        outcome = fetch(server, f"{ehr.base}/ok")
        assert ehr.seen.connections == 0
    assert decoy_host.seen.connections == 0
    assert outcome.failures["conditions"].startswith("not in prefetch and fhirServer")


def _endless(handler: BaseHTTPRequestHandler, sent: list[int]) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.end_headers()
    chunk = b"[" + b" " * 65535
    try:
        for _ in range(4096):  # up to 256 MiB if nobody stops reading
            handler.wfile.write(chunk)
            sent[0] += len(chunk)
    except OSError:
        return


def test_an_endless_body_is_cut_at_the_cap_while_streaming() -> None:
    sent = [0]
    with CountingServer(lambda h: _endless(h, sent)) as ehr:
        started = time.monotonic()
        outcome = fetch(ehr.base, ehr.base, FetchLimits(max_response_bytes=1024 * 1024))
        elapsed = time.monotonic() - started
    assert "over 1048576 bytes" in outcome.failures["conditions"]
    assert elapsed < 2.5
    assert sent[0] < 16 * 1024 * 1024  # the reader stopped: only socket buffers beyond the cap


def test_a_compressed_bomb_is_cut_at_the_cap_after_decompression() -> None:
    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024))  # 64 MiB of JSON whitespace in about 64 KiB

    def respond(handler: BaseHTTPRequestHandler) -> None:
        send_json(handler, bomb, headers={"Content-Encoding": "gzip"})

    with CountingServer(respond) as ehr:
        outcome = fetch(ehr.base, ehr.base, FetchLimits(max_response_bytes=1024 * 1024))
    assert len(bomb) < 1024 * 1024
    assert "over 1048576 bytes" in outcome.failures["conditions"]


def test_a_compressed_answer_within_the_cap_is_read() -> None:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        send_json(handler, gzip.compress(page(None)), headers={"Content-Encoding": "gzip"})

    with CountingServer(respond) as ehr:
        outcome = fetch(ehr.base, ehr.base)
    assert outcome.values["conditions"]["entry"][0]["resource"] == CONDITION


def test_the_whole_call_shares_one_byte_budget() -> None:
    big = page(None)[:-1] + b"," + b'"padding":"' + b"x" * 600_000 + b'"}'
    specs = [
        PrefetchSpec(f"key{i}", "Condition?patient={{context.patientId}}", "conditions", required=False)
        for i in range(4)
    ]

    async def go(base: str) -> FetchOutcome:
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as client:
            limits = FetchLimits(max_response_bytes=1024 * 1024, max_call_bytes=1024 * 1024)
            fetcher = HttpFhirFetcher(client, ServerPolicy((base,), allow_http=True), limits)
            return await fetcher.fetch_missing(specs, FetchRequest(base, TOKEN, {"patientId": "p1"}))

    with CountingServer(lambda h: send_json(h, big)) as ehr:
        outcome = asyncio.run(go(ehr.base))
    # 4 x 600 kB against a 1 MiB budget: at most one answer fits (interleaved reads may leave none).
    assert len(outcome.values) <= 1
    assert len(outcome.failures) >= 3
    assert all("together" in reason for reason in outcome.failures.values())


@pytest.mark.parametrize(
    ("url", "under"),
    [
        ("https://h.example/fhir/Patient/1", True),
        ("https://H.EXAMPLE:443/fhir/Patient/1", True),
        ("https://h.example/fhir?page=2", True),
        ("https://h.example/fhirEVIL/Patient", False),
        ("https://h.example:8443/fhir/Patient", False),
        ("http://h.example/fhir/Patient", False),
        ("https://h.example.evil/fhir/Patient", False),
        ("https://h.example/fhi", False),
    ],
)
def test_urls_are_compared_as_origin_plus_path_segments(url: str, under: bool) -> None:
    assert ServerUrl.parse(url).is_under(ServerUrl.parse("https://h.example/fhir/")) is under


@pytest.mark.parametrize(
    "url",
    ["https://h.example@evil.example/fhir", "https://h.example/fhir/%2e%2e/x", "ftp://h.example/", "https:///fhir"],
)
def test_userinfo_dot_segments_and_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused):
        ServerUrl.parse(url)
