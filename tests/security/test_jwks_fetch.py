"""Fetching a client's key set from its registered ``jku``: capped, under a deadline, never redirected.

Unit cases drive ``KeySets`` with respx (nothing leaves the process); the last ones go through the app to
show the refusal is the generic 401 OperationOutcome, logged without the token.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.security.jwt_auth import AuthenticationFailed, KeySets
from cds_service.security.registry import TrustedClient
from tests.security.test_client_authentication import (
    DISCOVERY,
    RSA_EHR,
    RSA_JKU,
    RSA_JWKS,
    RSA_KEY,
    assert_refused,
    auth,
    make_client,
    registry,  # noqa: F401 - the registry fixture, with RSA_EHR on its jku
    token,
)

CAP = 4096
TRUSTED = TrustedClient(iss=RSA_EHR, jku=RSA_JKU)
ELSEWHERE = "https://elsewhere.example.net/jwks.json"


def padded_key_set(size: int) -> bytes:
    """A valid JWK set of exactly ``size`` bytes (the real key, then padding in an unused member)."""
    base = json.dumps({**RSA_JWKS, "pad": ""}).encode()
    assert len(base) <= size
    return json.dumps({**RSA_JWKS, "pad": "x" * (size - len(base))}).encode()


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    """``body`` streamed without a Content-Length (chunked transfer)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def key_for(keys: KeySets) -> Any:
    return await keys.key_for(TRUSTED, "rsa-1", "RS384")


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# Requests seen by the last fetch_with: (to the registered jku, to the other host).
CALLS: dict[str, int] = {}


async def fetch_with(handler: Any, **timeout: float) -> Any:
    """The key for kid rsa-1, with the jku answered by ``handler`` and ELSEWHERE serving a valid key set."""
    async with httpx.AsyncClient() as client:
        with respx.mock(assert_all_called=False) as mock:
            route = mock.get(RSA_JKU).mock(side_effect=handler)
            other = mock.get(ELSEWHERE).mock(return_value=httpx.Response(200, json=RSA_JWKS))
            keys = KeySets(client, {}, cache_seconds=60, max_bytes=CAP, **timeout)
            try:
                return await key_for(keys)
            finally:
                CALLS.update(jku=route.call_count, elsewhere=other.call_count)


def refusal(handler: Any) -> str:
    with pytest.raises(AuthenticationFailed) as refused:
        run(fetch_with(handler))
    assert refused.value.iss == RSA_EHR
    assert refused.value.kid == "rsa-1"
    return refused.value.reason


def request_headers_seen(body: bytes) -> httpx.Headers:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body)

    run(fetch_with(handler))
    return seen[0].headers


def test_a_key_set_at_the_cap_is_read() -> None:
    body = padded_key_set(CAP)
    key = run(fetch_with(lambda request: httpx.Response(200, content=chunks(body))))
    assert key.key_id == "rsa-1"
    assert request_headers_seen(body)["accept-encoding"] == "identity"


def test_a_streamed_body_one_byte_over_the_cap_is_refused() -> None:
    body = padded_key_set(CAP + 1)
    reason = refusal(lambda request: httpx.Response(200, content=chunks(body)))
    assert reason == f"key set body over CDS_JWKS_MAX_BYTES ({CAP} bytes)"


def test_an_endless_body_without_content_length_stops_at_the_cap() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1024
            yield b" " * 1024

    reason = refusal(lambda request: httpx.Response(200, content=endless()))
    assert reason == f"key set body over CDS_JWKS_MAX_BYTES ({CAP} bytes)"
    assert sent <= CAP + 1024  # stopped within one chunk of the cap, not read to the end


def test_an_oversized_content_length_is_refused_before_the_body_is_read() -> None:
    read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        read += 1
        yield b"{}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(10 * 1024 * 1024)}, content=body())

    reason = refusal(handler)
    assert reason == f"key set Content-Length over CDS_JWKS_MAX_BYTES ({CAP} bytes)"
    assert read == 0


def test_a_compressed_key_set_is_refused() -> None:
    reason = refusal(lambda request: httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"\x1f\x8b"))
    assert reason == "key set sent with Content-Encoding 'gzip', not read"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_not_followed(status: int) -> None:
    reason = refusal(lambda request: httpx.Response(status, headers={"Location": ELSEWHERE}))
    assert reason == f"key set URL answered with a redirect (HTTP {status}), not followed"
    assert CALLS == {"jku": 1, "elsewhere": 0}  # the other host was never asked


def test_a_redirect_on_the_same_host_is_not_followed_either() -> None:
    reason = refusal(lambda request: httpx.Response(302, headers={"Location": RSA_JKU + "?v=2"}))
    assert "redirect" in reason
    assert CALLS == {"jku": 1, "elsewhere": 0}


def test_a_connect_timeout_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("connect timed out", request=request)

    assert refusal(handler) == "key set fetch timed out (5 s)"


def test_a_server_that_drips_its_body_is_cut_at_the_deadline() -> None:
    async def drip() -> AsyncIterator[bytes]:
        yield b'{"keys": ['
        while True:  # each chunk in time for a per-read timeout, the whole never in time
            await asyncio.sleep(0.05)
            yield b" "

    async def timed() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(AuthenticationFailed) as refused:
            await fetch_with(lambda request: httpx.Response(200, content=drip()), timeout_seconds=0.3)
        return refused.value.reason, loop.time() - started

    reason, elapsed = run(timed())
    assert reason == "key set fetch timed out (0.3 s)"
    assert elapsed < 2.0


def test_an_error_status_and_bad_json_are_refusals_not_errors() -> None:
    assert refusal(lambda request: httpx.Response(500)) == "key set URL answered HTTP 500"
    assert refusal(lambda request: httpx.Response(200, content=b"\xff not json")) == "key set is not JSON"
    assert refusal(lambda request: httpx.Response(200, json=["keys"])) == "key set is not a JWK set"


@pytest.fixture
def capped_client(registry: Path, tmp_path: Path) -> Iterator[TestClient]:  # noqa: F811 - the fixture above
    with make_client(registry, tmp_path, jwks_max_bytes=1024) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("streamed", "reason"),
    [
        (False, "key set Content-Length over CDS_JWKS_MAX_BYTES (1024 bytes)"),
        (True, "key set body over CDS_JWKS_MAX_BYTES (1024 bytes)"),
    ],
)
def test_an_oversized_key_set_is_a_401_operation_outcome_logged_without_the_token(
    capped_client: TestClient, caplog: pytest.LogCaptureFixture, streamed: bool, reason: str
) -> None:
    value = token(DISCOVERY, key=RSA_KEY, alg="RS384", kid="rsa-1", iss=RSA_EHR, headers={"jku": RSA_JKU})
    body = padded_key_set(4096)
    logging.getLogger("cds_service").propagate = True
    try:
        with (
            respx.mock(assert_all_called=False) as mock,
            caplog.at_level(logging.WARNING, logger="cds_service.security"),
        ):
            answer = chunks(body) if streamed else body
            mock.get(RSA_JKU).mock(side_effect=lambda _: httpx.Response(200, content=answer))
            assert_refused(capped_client.get(DISCOVERY, headers=auth(value)))
    finally:
        logging.getLogger("cds_service").propagate = False
    refused = next(r for r in caplog.records if r.getMessage() == "jku key set refused")
    assert refused.__dict__["reason"] == reason
    assert refused.__dict__["jku"] == RSA_JKU
    failed = next(r for r in caplog.records if r.getMessage() == "client authentication failed")
    assert failed.__dict__["iss"] == RSA_EHR
    everything = " ".join(str(r.__dict__) for r in caplog.records)
    assert value not in everything
    assert value.split(".")[2] not in everything


def test_a_redirected_key_set_is_a_401_and_the_other_host_is_never_called(capped_client: TestClient) -> None:
    value = token(DISCOVERY, key=RSA_KEY, alg="RS384", kid="rsa-1", iss=RSA_EHR, headers={"jku": RSA_JKU})
    with respx.mock(assert_all_called=False) as mock:
        mock.get(RSA_JKU).mock(return_value=httpx.Response(302, headers={"Location": ELSEWHERE}))
        other = mock.get(ELSEWHERE).mock(return_value=httpx.Response(200, json=RSA_JWKS))
        assert_refused(capped_client.get(DISCOVERY, headers=auth(value)))
        assert not other.called
