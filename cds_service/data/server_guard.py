"""Outbound calls to FHIR servers that one slow server cannot wedge: a bulkhead and a breaker per server.

Each FHIR server (scheme, host and port) gets its own connection pool, at most ``max_concurrent``
requests in flight and at most ``max_queued`` waiting for a slot; a call beyond that fails at once
("busy") instead of queueing behind a server that does not answer. After ``breaker_failures``
consecutive failures (timeouts, transport errors, 5xx, calls cut by the hook's deadline) the server's
circuit opens: calls fail at once for ``breaker_open_seconds``, then one probe is let through (half-open)
and its outcome closes or reopens the circuit. When a circuit opens, the server's pool is replaced and
the old one closed, so connections stuck on the failing server are released. Other servers, and the key
sets of client authentication (their own client), are never affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

logger = logging.getLogger("cds_service.data")


@dataclass(frozen=True, slots=True)
class GuardLimits:
    """Per-server bounds (settings ``CDS_FHIR_SERVER_*`` and ``CDS_FHIR_BREAKER_*``)."""

    max_concurrent: int = 10
    max_queued: int = 50
    breaker_failures: int = 5
    breaker_open_seconds: float = 30.0


class ServerRefused(Exception):
    """The server is not called now (circuit open, or its bulkhead is full); the message is safe to show."""


class CircuitState:
    CLOSED = "ok"
    OPEN = "failing (circuit open)"
    HALF_OPEN = "failing (probing)"


class ServerGuard:
    """One FHIR server's connection pool, bulkhead and circuit breaker."""

    def __init__(
        self,
        name: str,
        limits: GuardLimits,
        client_factory: Callable[[int], httpx.AsyncClient],
        *,
        clock: Callable[[], float] = time.monotonic,
        owns_client: bool = True,
        on_refused: Callable[[str, str], None] | None = None,
    ) -> None:
        self.name = name
        self._on_refused = on_refused
        self.limits = limits
        self._client_factory = client_factory
        self._owns_client = owns_client
        self._client = client_factory(limits.max_concurrent)
        self._clock = clock
        self._slots = asyncio.Semaphore(limits.max_concurrent)
        self._in_flight = 0
        self._waiting = 0
        self._failures = 0
        self._open_until: float | None = None
        self._probe_running = False
        self.refused: dict[str, int] = {"circuit-open": 0, "busy": 0}
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def state(self) -> str:
        """``CircuitState``: ok, open, or half-open (the open period is over; the next call probes)."""
        if self._open_until is None:
            return CircuitState.CLOSED
        return CircuitState.OPEN if self._clock() < self._open_until else CircuitState.HALF_OPEN

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[GuardedCall]:
        """A slot for one request: ``ServerRefused`` when the circuit is open or the queue is full.

        The request counts as failed when the block raises a timeout, a transport error or is cancelled,
        or when it calls ``failed()`` (a 5xx); otherwise as succeeded.
        """
        probe = self._admit()
        if self._slots.locked() and self._waiting >= self.limits.max_queued:
            if probe:
                self._probe_running = False
            self._count_refusal("busy")
            raise ServerRefused(f"FHIR server {self.name} is busy ({self.limits.max_concurrent} requests in flight)")
        self._waiting += 1
        try:
            await self._slots.acquire()
        except BaseException:
            if probe:
                self._probe_running = False
            raise
        finally:
            self._waiting -= 1
        if not probe and self._open_until is not None:  # the circuit opened while this call waited
            self._slots.release()
            self._count_refusal("circuit-open")
            raise ServerRefused(f"FHIR server {self.name} is failing; not called for now (circuit open)")
        self._in_flight += 1
        guarded = GuardedCall(self._client)
        failed = True
        try:
            yield guarded
            failed = guarded.server_failed
        except (httpx.TimeoutException, httpx.TransportError, asyncio.CancelledError):
            failed = True
            raise
        except BaseException:
            failed = guarded.server_failed  # else the server answered; what it sent was refused (size, redirect)
            raise
        finally:
            self._in_flight -= 1
            self._slots.release()
            if probe:
                self._probe_running = False
            self._record(failed)

    def _admit(self) -> bool:
        """Whether the call may go on; True when it is the half-open probe."""
        if self._open_until is None:
            return False
        if self._clock() < self._open_until or self._probe_running:
            self._count_refusal("circuit-open")
            raise ServerRefused(f"FHIR server {self.name} is failing; not called for now (circuit open)")
        self._probe_running = True
        return True

    def _count_refusal(self, reason: str) -> None:
        self.refused[reason] += 1
        if self._on_refused is not None:
            self._on_refused(self.name, reason)

    def _record(self, failed: bool) -> None:
        if not failed:
            if self._open_until is not None:
                logger.info("FHIR server answers again: circuit closed", extra={"server": self.name})
            self._failures = 0
            self._open_until = None
            return
        self._failures += 1
        was_open = self._open_until is not None
        if self._failures >= self.limits.breaker_failures:
            self._open_until = self._clock() + self.limits.breaker_open_seconds
            if not was_open:
                logger.warning(
                    "FHIR server failing: circuit opened",
                    extra={"server": self.name, "failures": self._failures},
                )
                self._replace_client()

    def _replace_client(self) -> None:
        """A fresh pool for later calls; the old one is closed, releasing connections stuck on the server."""
        if not self._owns_client:
            return
        old, self._client = self._client, self._client_factory(self.limits.max_concurrent)
        task = asyncio.get_running_loop().create_task(old.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._owns_client:
            await self._client.aclose()


class GuardedCall:
    """The client to use for one guarded request; ``failed()`` marks a server error (5xx)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.server_failed = False

    def failed(self) -> None:
        self.server_failed = True


class ServerGuards:
    """The guards of every FHIR server called, by origin (bounded: only allowlisted servers are called)."""

    def __init__(
        self,
        limits: GuardLimits | None = None,
        *,
        timeout: httpx.Timeout | None = None,
        shared_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_refused: Callable[[str, str], None] | None = None,
        request_hooks: Sequence[Callable[[httpx.Request], Awaitable[None]]] = (),
    ) -> None:
        self.limits = limits or GuardLimits()
        self._request_hooks = list(request_hooks)  # run on every request (e.g. the trace context)
        self._on_refused = on_refused  # (server, reason) for each call refused without being sent
        self._timeout = timeout or httpx.Timeout(5.0, connect=2.0)
        self._shared = shared_client
        self._clock = clock
        self._guards: dict[str, ServerGuard] = {}

    def _client_for(self, max_connections: int) -> httpx.AsyncClient:
        if self._shared is not None:
            return self._shared
        return httpx.AsyncClient(
            timeout=self._timeout,
            follow_redirects=False,
            event_hooks={"request": list(self._request_hooks)},
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def for_origin(self, origin: str) -> ServerGuard:
        """The guard of the server at ``origin`` (``scheme://host:port``), created on first use."""
        guard = self._guards.get(origin)
        if guard is None:
            guard = ServerGuard(
                origin,
                self.limits,
                self._client_for,
                clock=self._clock,
                owns_client=self._shared is None,
                on_refused=self._on_refused,
            )
            self._guards[origin] = guard
        return guard

    def states(self) -> dict[str, str]:
        """Each server called so far and its circuit state (for ``/readyz`` and ``/metrics``)."""
        return {name: guard.state for name, guard in sorted(self._guards.items())}

    def all(self) -> list[ServerGuard]:
        return list(self._guards.values())

    async def close(self) -> None:
        for guard in self._guards.values():
            await guard.close()
