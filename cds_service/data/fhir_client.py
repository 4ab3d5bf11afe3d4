"""Fetch prefetch keys the client left out from its FHIR server: allowlisted, bounded, parallel, safe.

CDS Hooks 2.0 (conformance checklist sections 2.4-2.5, 6.3-6.4): a missing key is fetched from
``fhirServer`` with the discovery template's query, tokens substituted, using ``fhirAuthorization`` as a
bearer token when given. Only allowlisted servers are called (https unless development allows http),
compared as origin plus path segments (``server_urls``); redirects are never followed; pages are followed
only under the same base, up to page, resource and byte limits (bodies are streamed, decompressed in
bounded steps and cut at the cap, per response and for the whole call); every key is fetched at once
under one deadline. Every request goes through its server's guard (``server_guard``: its own pool, a
bulkhead and a circuit breaker), so a server that hangs never holds up another. A 404 on a later page
fails the key; a search cut at the page or resource limit is reported as truncated (its category is then
incomplete). The access token is sent to that server alone and never logged, stored or echoed in an error.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from cds_service import config
from cds_service.data.prefetch import FetchOutcome, FetchRequest, PrefetchSpec
from cds_service.data.server_guard import ServerGuards, ServerRefused
from cds_service.data.server_urls import ServerUrl, UrlRefused

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

    deadline_seconds: float = config.FHIR_DEADLINE_SECONDS
    max_pages: int = config.FHIR_MAX_PAGES
    max_resources: int = config.FHIR_MAX_RESOURCES
    max_response_bytes: int = config.FHIR_MAX_RESPONSE_BYTES
    max_call_bytes: int = config.FHIR_MAX_CALL_BYTES


class ServerPolicy:
    """Which FHIR servers may be called: allowlisted bases (parsed once), https unless ``allow_http``."""

    def __init__(self, allowed_bases: Iterable[str] = (), allow_http: bool = False) -> None:
        self.allow_http = allow_http
        self.allowed = tuple(_parse_allowed(allowed_bases))

    def check(self, server: str, extra_bases: Iterable[str] = ()) -> ServerUrl:
        """The parsed ``server`` when it may be called (``extra_bases``: the client's own); else ``FetchFailed``."""
        try:
            parsed = ServerUrl.parse(server)
        except UrlRefused as exc:
            raise FetchFailed(f"fhirServer refused: {exc}") from exc
        if parsed.scheme == "http" and not self.allow_http:
            raise FetchFailed("fhirServer is not https")
        if not any(parsed.is_on(base) for base in (*self.allowed, *_parse_allowed(extra_bases))):
            raise FetchFailed("fhirServer is not on the allowlist")
        return parsed

    def refusal(self, server: str, extra_bases: Iterable[str] = ()) -> str | None:
        """Why ``server`` may not be called, or None when it may."""
        try:
            self.check(server, extra_bases)
        except FetchFailed as exc:
            return str(exc)
        return None


def _parse_allowed(bases: Iterable[str]) -> Iterable[ServerUrl]:
    for base in bases:
        try:
            yield ServerUrl.parse(base)
        except UrlRefused:
            continue  # an unusable allowlist entry allows nothing (settings refuse it at start-up)


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
        if str(found) in (".", ".."):  # a dot segment would widen Patient/{{id}} to the whole collection
            raise FetchFailed(f"prefetch token {{{{{token}}}}} is not a FHIR id")
        return quote(str(found), safe="")

    return _TOKEN.sub(value, template)


class HttpFhirFetcher:
    """The data-access fallback; one per app. Every request goes through its server's guard
    (``server_guard``: own pool, bulkhead, circuit breaker); ``client``, when given, is shared by every
    server instead of one pool each (tests)."""

    def __init__(
        self,
        client: httpx.AsyncClient | None,
        policy: ServerPolicy,
        limits: FetchLimits | None = None,
        on_fetch: Callable[[str, bool], None] | None = None,
        *,
        guards: ServerGuards | None = None,
    ) -> None:
        self.guards = guards or ServerGuards(shared_client=client)
        self.policy = policy
        self.limits = limits or FetchLimits()
        self.on_fetch = on_fetch  # (key, succeeded) for each key requested from a FHIR server

    async def fetch_missing(self, specs: list[PrefetchSpec], request: FetchRequest) -> FetchOutcome:
        """Fetch every key at once; keys not fetched come back in ``failures`` with a safe reason."""
        outcome = FetchOutcome()
        if not request.fhir_server:
            outcome.failures = {s.key: "not in prefetch and the request has no fhirServer" for s in specs}
            return outcome
        try:
            base = self.policy.check(request.fhir_server, request.client_servers)
        except FetchFailed as refusal:
            outcome.failures = {s.key: f"not in prefetch and {refusal}" for s in specs}
            return outcome
        budget = _ByteBudget(self.limits.max_call_bytes)
        tasks = {s.key: asyncio.create_task(self._fetch_one(s, base, request, budget)) for s in specs}
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
                if notes:
                    outcome.truncated.add(key)
        return outcome

    def _headers(self, request: FetchRequest) -> dict[str, str]:
        headers = {"Accept": "application/fhir+json", "Accept-Encoding": "gzip, deflate"}
        if request.access_token:
            headers["Authorization"] = f"Bearer {request.access_token}"
        return headers

    async def _get_json(self, url: ServerUrl, request: FetchRequest, key: str, budget: _ByteBudget) -> tuple[int, Any]:
        guard = self.guards.for_origin(url.origin_text)
        try:
            async with (
                guard.call() as call,
                call.client.stream("GET", url.url, headers=self._headers(request), follow_redirects=False) as resp,
            ):
                if resp.is_redirect:
                    raise FetchFailed(f"FHIR server answered {key} with a redirect, which is not followed")
                status = resp.status_code
                if status >= 500:
                    call.failed()
                    raise FetchFailed(f"FHIR server answered {key} with HTTP {status}")
                body = _BoundedBody(resp.headers.get("content-encoding", ""), self.limits.max_response_bytes, budget)
                length = resp.headers.get("content-length", "")
                if length.isdigit() and not body.encoded and int(length) > self.limits.max_response_bytes:
                    raise _TooLarge(self.limits.max_response_bytes)
                async for chunk in resp.aiter_raw():
                    body.feed(chunk)
        except ServerRefused as exc:
            raise FetchFailed(str(exc)) from exc
        except _TooLarge as exc:
            if exc.whole_call:
                raise FetchFailed(
                    f"FHIR answers of this call are over {exc.limit} bytes together; {key} not read"
                ) from exc
            raise FetchFailed(f"FHIR server answer for {key} is over {exc.limit} bytes") from exc
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
            return status, json.loads(body.data)
        except ValueError as exc:
            raise FetchFailed(f"FHIR server answered {key} with malformed JSON") from exc

    async def _fetch_one(
        self, spec: PrefetchSpec, base: ServerUrl, request: FetchRequest, budget: _ByteBudget
    ) -> tuple[Any, list[str]]:
        if request.fhir_server is None:
            raise FetchFailed("no fhirServer in the request")
        url = _under(f"{request.fhir_server.rstrip('/')}/{substitute_tokens(spec.template, request.context)}", base)
        if url is None:
            raise FetchFailed(f"the query for {spec.key} leaves the FHIR server's base; refused")
        status, value = await self._get_json(url, request, spec.key, budget)
        if value is None:
            if not _READ.fullmatch(spec.template):
                raise FetchFailed(f"FHIR server answered {spec.key} with HTTP {status}")
            return None, []  # a read of a resource that does not exist: no data, as a null prefetch
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            raise FetchFailed(f"FHIR server answer for {spec.key} is not a FHIR resource")
        if value["resourceType"] != "Bundle":
            return value, []
        return await self._follow_pages(value, base, request, spec.key, budget)

    async def _follow_pages(
        self, first: dict[str, Any], base: ServerUrl, request: FetchRequest, key: str, budget: _ByteBudget
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
            next_link = _next_link(page)
            if next_link is None:
                break
            if pages >= self.limits.max_pages:
                notes.append(f"more than {self.limits.max_pages} pages; the rest were not read")
                break
            next_url = _under(next_link, base)
            if next_url is None:
                raise FetchFailed(
                    f"FHIR server's next page for {key} points to another server or outside its base; refused"
                )
            status, page = await self._get_json(next_url, request, key, budget)
            if page is None:
                raise FetchFailed(
                    f"FHIR server answered page {pages + 1} of {key} with HTTP {status}; the search is incomplete"
                )
            if not isinstance(page, dict):
                raise FetchFailed(f"FHIR server's next page for {key} is not a Bundle")
        merged = {k: v for k, v in first.items() if k not in ("entry", "link")}
        if entries:
            merged["entry"] = entries
        return merged, notes


def _under(url: str, base: ServerUrl) -> ServerUrl | None:
    """``url`` parsed, when it is under ``base`` (same origin, path at or below the base's segments)."""
    try:
        parsed = ServerUrl.parse(url)
    except UrlRefused:
        return None
    return parsed if parsed.is_under(base) else None


class _TooLarge(Exception):
    def __init__(self, limit: int, *, whole_call: bool = False) -> None:
        super().__init__(limit)
        self.limit = limit
        self.whole_call = whole_call


class _ByteBudget:
    """Bytes all the fetches of one hook call may still read together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.remaining = limit

    def take(self, count: int) -> None:
        self.remaining -= count
        if self.remaining < 0:
            raise _TooLarge(self.limit, whole_call=True)


class _BoundedBody:
    """A response body read chunk by chunk: decompressed in bounded steps, cut at the byte cap."""

    def __init__(self, content_encoding: str, limit: int, budget: _ByteBudget) -> None:
        encoding = content_encoding.strip().lower()
        self.encoded = encoding not in ("", "identity")
        if encoding == "gzip":
            self._decoder: Any = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        elif self.encoded:
            raise FetchFailed(f"FHIR server used an unsupported Content-Encoding ({encoding[:20]})")
        else:
            self._decoder = None
        self._limit = limit
        self._budget = budget
        self.data = bytearray()

    def feed(self, chunk: bytes) -> None:
        if self._decoder is None:
            self._append(chunk)
            return
        pending = chunk
        try:
            while pending:
                self._append(self._decoder.decompress(pending, self._limit - len(self.data) + 1))
                pending = self._decoder.unconsumed_tail
        except zlib.error as exc:
            raise FetchFailed("FHIR server sent a malformed compressed body") from exc

    def _append(self, data: bytes) -> None:
        self.data += data
        if len(self.data) > self._limit:
            raise _TooLarge(self._limit)
        self._budget.take(len(data))


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None
