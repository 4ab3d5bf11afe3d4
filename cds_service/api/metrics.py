"""Prometheus metrics: request latency per endpoint, service and status; cards; feedback; fetches; 401 and 412.

Each app has its own registry. With several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty folder and ``/metrics`` aggregates every worker (prometheus_client multiprocess mode).
"""

from __future__ import annotations

import os
import platform
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, service_ids: list[str]) -> None:
        self.registry = CollectorRegistry()
        self.service_ids = set(service_ids)
        self.request_seconds = Histogram(
            "cds_http_request_duration_seconds",
            "HTTP request latency by endpoint, CDS service and status",
            ["endpoint", "service", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Definitions shared with the concordance report: docs/concordance-report.md.
        self.cards = Counter(
            "cds_cards_total",
            "Cards returned, by service and indicator",
            ["service", "indicator"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "cds_feedback_total",
            "Feedback reports received, by service and outcome (accepted, overridden)",
            ["service", "outcome"],
            registry=self.registry,
        )
        self.fallback_fetches = Counter(
            "cds_fhir_fallback_fetches_total",
            "Prefetch keys fetched from the EHR's FHIR server, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.unauthorized = Counter(
            "cds_unauthorized_total", "Calls refused with 401 (client authentication)", registry=self.registry
        )
        self.precondition_failed = Counter(
            "cds_precondition_failed_total",
            "Hook calls answered 412 (required data not obtainable): guidance silently missing in the EHR",
            ["service"],
            registry=self.registry,
        )

        self.fhir_server_failing = Gauge(
            "cds_fhir_server_failing",
            "1 while a FHIR server's circuit is open (failing: calls to it are refused at once), else 0",
            ["server"],
            registry=self.registry,
        )
        self.fhir_server_refused = Counter(
            "cds_fhir_server_refused_total",
            "FHIR requests not sent: the server's circuit was open or its bulkhead full",
            ["server", "reason"],
            registry=self.registry,
        )
        self.issued_cards_dropped = Counter(
            "cds_issued_cards_dropped_total",
            "Issued-card records lost (spool full, refused, or database down at shutdown): audit gaps",
            registry=self.registry,
        )
        self.issued_cards_spooled = Gauge(
            "cds_issued_cards_spooled",
            "Issued-card records waiting for the database",
            registry=self.registry,
        )

    def fhir_refused(self, server: str, reason: str) -> None:
        self.fhir_server_refused.labels(server, reason).inc()

    def observe_dependencies(self, fhir_servers: dict[str, str], spooled: int) -> None:
        """Gauges read at scrape time: each FHIR server's circuit, the issued-card spool."""
        for server, state in fhir_servers.items():
            self.fhir_server_failing.labels(server).set(0 if state == "ok" else 1)
        self.issued_cards_spooled.set(spooled)

    def set_build_info(self, version: str, knowledge_version: str) -> None:
        """``cds_build_info{version, knowledge_version, python} 1``: what is running, for dashboards and alerts."""
        build_info = Gauge(
            "cds_build_info",
            "The running service: its version, its knowledge version and the Python version (always 1)",
            ["version", "knowledge_version", "python"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        build_info.labels(version, knowledge_version, platform.python_version()).set(1)

    def classify(self, path: str) -> tuple[str, str]:
        """(endpoint, service) with bounded label values: unknown service ids are not labels."""
        parts = path.strip("/").split("/")
        if parts[0] != "cds-services":
            return ({"healthz": "health", "readyz": "health", "metrics": "metrics"}.get(parts[0], "other"), "")
        if len(parts) == 1:
            return "discovery", ""
        service = parts[1] if parts[1] in self.service_ids else "unknown"
        return ("feedback" if len(parts) == 3 and parts[2] == "feedback" else "service"), service

    def fetched(self, key: str, ok: bool) -> None:
        self.fallback_fetches.labels(outcome="ok" if ok else "failed").inc()

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))

    content_type = CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Times every HTTP request and counts 401 and 412 answers (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            endpoint, service = self.metrics.classify(scope["path"])
            self.metrics.request_seconds.labels(endpoint, service, str(status)).observe(time.perf_counter() - started)
            if status == 401:
                self.metrics.unauthorized.inc()
            elif status == 412:
                self.metrics.precondition_failed.labels(service).inc()
