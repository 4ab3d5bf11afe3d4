"""Fetch prefetch keys the client left out from its FHIR server: allowlisted, bounded, parallel, safe.

CDS Hooks 2.0 (conformance checklist sections 2.4-2.5, 6.3-6.4): a missing key is fetched from
``fhirServer`` with the discovery template's query, tokens substituted, using ``fhirAuthorization`` as a
bearer token when given. Only allowlisted servers are called (https unless development allows http);
redirects are never followed; pages are followed on the same server only, up to page, resource and byte
limits; every key is fetched at once under one deadline. The access token is sent to that server alone
and never logged, stored or echoed in an error.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from cds_service.data.prefetch import FetchOutcome, FetchRequest, PrefetchSpec

_TOKEN = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_READ = re.compile(r"[A-Za-z]+/\{\{[^{}]+\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds of one hook call's fallback fetches (settings ``CDS_FHIR_*``)."""

    deadline_seconds: float = 3.0
    max_pages: int = 5
    max_resources: int = 2000
    max_response_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerPolicy:
    """Which FHIR servers may be called: exact base URLs, https unless ``allow_http``."""

    allowed_bases: tuple[str, ...] = ()
    allow_http: bool = False

    def refusal(self, base: str, extra_bases: tuple[str, ...] = ()) -> str | None:
        """Why ``base`` may not be called, or None when it may (``extra_bases``: the client's own)."""
        parts = urlsplit(base)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            return "fhirServer is not an absolute http(s) URL"
        if parts.scheme == "http" and not self.allow_http:
            return "fhirServer is not https"
        if normalise_base(base) not in {normalise_base(b) for b in (*self.allowed_bases, *extra_bases)}:
            return "fhirServer is not on the allowlist"
        return None


def normalise_base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


class FetchFailed(Exception):
    """One key could not be fetched; the message is safe to show (no token, no body)."""


def substitute_tokens(template: str, context: Mapping[str, Any]) -> str:
    """Fill ``{{context.x}}`` (root-level primitives) and the 2.0 user tokens; values are URL-encoded."""

    def value(match: re.Match[str]) -> str:
        token = match.group(1)
        if token.startswith("context."):
            found = context.get(token.removeprefix("context."))
        elif token in _USER_TOKENS:
            user = context.get("userId")
            prefix = f"{_USER_TOKENS[token]}/"
            found = user.removeprefix(prefix) if isinstance(user, str) and user.startswith(prefix) else None
        else:
            found = None
        if not isinstance(found, str | int) or isinstance(found, bool) or str(found) == "":
            raise FetchFailed(f"prefetch token {{{{{token}}}}} cannot be resolved from the context")
        return quote(str(found), safe="")

    return _TOKEN.sub(value, template)


class HttpFhirFetcher:
    """The data-access fallback; one per app, sharing the app's ``httpx.AsyncClient``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: ServerPolicy,
        limits: FetchLimits | None = None,
        on_fetch: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.client = client
        self.policy = policy
        self.limits = limits or FetchLimits()
        self.on_fetch = on_fetch  # (key, succeeded) for each key requested from a FHIR server

    async def fetch_missing(self, specs: list[PrefetchSpec], request: FetchRequest) -> FetchOutcome:
        """Fetch every key at once; keys not fetched come back in ``failures`` with a safe reason."""
        outcome = FetchOutcome()
        if not request.fhir_server:
            outcome.failures = {s.key: "not in prefetch and the request has no fhirServer" for s in specs}
            return outcome
        refusal = self.policy.refusal(request.fhir_server, request.client_servers)
        if refusal is not None:
            outcome.failures = {s.key: f"not in prefetch and {refusal}" for s in specs}
            return outcome
        tasks = {s.key: asyncio.create_task(self._fetch_one(s, request)) for s in specs}
        _done, pending = await asyncio.wait(tasks.values(), timeout=self.limits.deadline_seconds)
        for task in pending:
            task.cancel()
        for key, task in tasks.items():
            succeeded = task not in pending and task.exception() is None
            if self.on_fetch is not None:
                self.on_fetch(key, succeeded)
            if task in pending:
                outcome.failures[key] = f"FHIR server did not answer within {self.limits.deadline_seconds:g} s"
                continue
            error = task.exception()
            if isinstance(error, FetchFailed):
                outcome.failures[key] = str(error)
            elif error is not None:
                outcome.failures[key] = f"FHIR server request failed ({type(error).__name__})"
            else:
                value, notes = task.result()
                outcome.values[key] = value
                outcome.notes += [(key, n) for n in notes]
        return outcome

    def _headers(self, request: FetchRequest) -> dict[str, str]:
        headers = {"Accept": "application/fhir+json"}
        if request.access_token:
            headers["Authorization"] = f"Bearer {request.access_token}"
        return headers

    async def _get_json(self, url: str, request: FetchRequest, key: str) -> tuple[int, Any]:
        try:
            async with self.client.stream("GET", url, headers=self._headers(request), follow_redirects=False) as resp:
                if resp.is_redirect:
                    raise FetchFailed(f"FHIR server answered {key} with a redirect, which is not followed")
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > self.limits.max_response_bytes:
                        raise FetchFailed(
                            f"FHIR server answer for {key} is over {self.limits.max_response_bytes} bytes"
                        )
                status = resp.status_code
        except httpx.TimeoutException as exc:
            raise FetchFailed(f"FHIR server timed out on {key}") from exc
        except httpx.TransportError as exc:
            raise FetchFailed(f"FHIR server unreachable for {key} ({type(exc).__name__})") from exc
        if status in (401, 403):
            raise FetchFailed(f"FHIR server refused access to {key} (HTTP {status})")
        if status == 404:
            return status, None
        if status >= 400:
            raise FetchFailed(f"FHIR server answered {key} with HTTP {status}")
        try:
            return status, json.loads(body)
        except ValueError as exc:
            raise FetchFailed(f"FHIR server answered {key} with malformed JSON") from exc

    async def _fetch_one(self, spec: PrefetchSpec, request: FetchRequest) -> tuple[Any, list[str]]:
        assert request.fhir_server is not None
        base = request.fhir_server.rstrip("/")
        url = f"{base}/{substitute_tokens(spec.template, request.context)}"
        status, value = await self._get_json(url, request, spec.key)
        if value is None:
            if not _READ.fullmatch(spec.template):
                raise FetchFailed(f"FHIR server answered {spec.key} with HTTP {status}")
            return None, []  # a read of a resource that does not exist: no data, as a null prefetch
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            raise FetchFailed(f"FHIR server answer for {spec.key} is not a FHIR resource")
        if value["resourceType"] != "Bundle":
            return value, []
        return await self._follow_pages(value, base, request, spec.key)

    async def _follow_pages(
        self, first: dict[str, Any], base: str, request: FetchRequest, key: str
    ) -> tuple[dict[str, Any], list[str]]:
        entries: list[Any] = []
        notes: list[str] = []
        page: dict[str, Any] | None = first
        pages = 0
        while page is not None:
            pages += 1
            page_entries = page.get("entry")
            entries += page_entries if isinstance(page_entries, list) else []
            if len(entries) >= self.limits.max_resources:
                notes.append(f"more than {self.limits.max_resources} resources; the rest were not read")
                entries = entries[: self.limits.max_resources]
                break
            next_url = _next_link(page)
            if next_url is None:
                break
            if pages >= self.limits.max_pages:
                notes.append(f"more than {self.limits.max_pages} pages; the rest were not read")
                break
            if not normalise_base(next_url).startswith(normalise_base(base)):
                raise FetchFailed(f"FHIR server's next page for {key} points to another server; refused")
            _, page = await self._get_json(next_url, request, key)
            if page is not None and not isinstance(page, dict):
                raise FetchFailed(f"FHIR server's next page for {key} is not a Bundle")
        merged = {k: v for k, v in first.items() if k not in ("entry", "link")}
        if entries:
            merged["entry"] = entries
        return merged, notes


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None
