"""CDS Hooks 2.0 client authentication: a signed JWT from a trusted EHR on every call.

Verification (conformance checklist section 6.1, best practices): the algorithm is on the allowlist
(``none`` and every HS* are always refused), ``iss`` is in the trusted-client registry, a ``jku`` header
must equal the registered URL before anything is fetched, the key is chosen by ``kid`` from that
client's key set, then signature, ``aud`` (the configured external URL of the endpoint called), ``exp``,
``nbf`` and ``iat`` with a small leeway, ``exp - iat`` at most the client's lifetime (its registry entry's
``max_token_lifetime_seconds``, else ``CDS_AUTH_MAX_TOKEN_LIFETIME_SECONDS``: one hour at most), ``sub``
when the client registers one, ``tenant`` when the client lists tenants, and last
``jti`` (a non-empty string, accepted once, remembered until ``exp``). Header and claims are type-checked
before any of them is used. Any failure is one generic 401; the reason is logged with ``iss``, ``kid`` and
``jti`` only, never the token. A replay cache that is down is ``ReplayCacheUnavailable`` (a 503), not a 401.
A key set fetched from a ``jku`` is asked for uncompressed, read streaming and cut at ``CDS_JWKS_MAX_BYTES``,
under one deadline (``CDS_JWKS_FETCH_TIMEOUT_SECONDS``), and never through a redirect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from cds_service import config
from cds_service.security.clients import ClientIdentity
from cds_service.security.registry import ClientRegistry, TrustedClient
from cds_service.security.replay import ReplayCache, ReplayCacheUnavailable

logger = logging.getLogger("cds_service.security")

MAX_JTI_LENGTH = 256
MAX_LOGGED_LENGTH = 256


class AuthenticationFailed(Exception):
    """Internal: why a caller was refused (never sent to the caller)."""

    def __init__(self, reason: str, *, iss: str | None = None, kid: str | None = None, jti: str | None = None):
        super().__init__(reason)
        self.reason = reason
        # Caller-supplied values are logged: bounded, so a forged token cannot flood the log.
        self.iss = iss[:MAX_LOGGED_LENGTH] if iss else iss
        self.kid = kid[:MAX_LOGGED_LENGTH] if kid else kid
        self.jti = jti[:MAX_LOGGED_LENGTH] if jti else jti


@dataclass(frozen=True, slots=True)
class AuthSettings:
    public_base_url: str
    algorithms: tuple[str, ...] = config.AUTH_ALGORITHMS
    leeway_seconds: int = config.AUTH_LEEWAY_SECONDS
    max_lifetime_seconds: int = config.AUTH_MAX_TOKEN_LIFETIME_SECONDS


class KeySets:
    """JWK sets by client: on file, or fetched from the registered ``jku`` (cached; refreshed on an unknown
    ``kid`` to follow key rotation, at most once per ``min_refresh_seconds`` so that tokens with made-up
    ``kid``s cannot turn the service against the EHR's key endpoint)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        local: dict[str, dict[str, Any]],
        cache_seconds: int,
        min_refresh_seconds: float = 60.0,
        *,
        max_bytes: int = config.JWKS_MAX_BYTES,
        timeout_seconds: float = config.JWKS_FETCH_TIMEOUT_SECONDS,
    ) -> None:
        self._client = client
        self._local = local
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._max_bytes = max_bytes
        self._timeout_seconds = timeout_seconds
        self._fetched: dict[str, tuple[float, dict[str, Any]]] = {}
        self._last_refresh: dict[str, float] = {}

    async def key_for(self, trusted: TrustedClient, kid: str, algorithm: str) -> jwt.PyJWK:
        if trusted.has_local_keys:
            key = _find(self._local.get(trusted.iss, {}), kid)
        elif trusted.jku is None:  # the registry refuses such a client; never trust that here
            raise AuthenticationFailed("client has neither keys on file nor a jku", iss=trusted.iss, kid=kid)
        else:
            jku = trusted.jku
            key = _find(await self._remote(trusted, jku, kid, refresh=False), kid)
            last = self._last_refresh.get(jku)
            if key is None and (last is None or time.monotonic() - last >= self._min_refresh_seconds):
                self._last_refresh[jku] = time.monotonic()
                key = _find(await self._remote(trusted, jku, kid, refresh=True), kid)
        if key is None:
            raise AuthenticationFailed("unknown kid", iss=trusted.iss, kid=kid)
        if key.get("use") not in (None, "sig"):
            raise AuthenticationFailed("key is not a signing key", iss=trusted.iss, kid=kid)
        if key.get("alg") not in (None, algorithm):
            raise AuthenticationFailed("token alg differs from the key's alg", iss=trusted.iss, kid=kid)
        try:
            return jwt.PyJWK(key, algorithm=algorithm)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:  # also a key whose type is not the alg's
            raise AuthenticationFailed("unusable key in key set", iss=trusted.iss, kid=kid) from exc

    async def _remote(self, trusted: TrustedClient, url: str, kid: str, *, refresh: bool) -> dict[str, Any]:
        """The client's key set from its registered ``jku`` (``url``; cached), or ``AuthenticationFailed``."""
        cached = self._fetched.get(url)
        if cached and not refresh and cached[0] > time.monotonic():
            return cached[1]
        try:
            async with asyncio.timeout(self._timeout_seconds):
                body = await self._fetch(url)
            keys = json.loads(body)
        except _KeySetRefused as exc:
            raise self._refused(trusted, kid, exc.reason) from exc
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise self._refused(trusted, kid, f"key set fetch timed out ({self._timeout_seconds:g} s)") from exc
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise self._refused(trusted, kid, f"key set could not be fetched ({type(exc).__name__})") from exc
        except ValueError as exc:
            raise self._refused(trusted, kid, "key set is not JSON") from exc
        if not isinstance(keys, dict):
            raise self._refused(trusted, kid, "key set is not a JWK set")
        self._fetched[url] = (time.monotonic() + self._cache_seconds, keys)
        return keys

    async def _fetch(self, url: str) -> bytes:
        """The body at ``url``: no redirect followed, uncompressed, read streaming and cut at the byte cap.

        Raises ``_KeySetRefused`` for a redirect, an error status, a compressed or oversized body.
        """
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        timeout = httpx.Timeout(self._timeout_seconds)
        async with self._client.stream("GET", url, headers=headers, follow_redirects=False, timeout=timeout) as resp:
            if resp.is_redirect:
                raise _KeySetRefused(f"key set URL answered with a redirect (HTTP {resp.status_code}), not followed")
            if not resp.is_success:
                raise _KeySetRefused(f"key set URL answered HTTP {resp.status_code}")
            encoding = resp.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise _KeySetRefused(f"key set sent with Content-Encoding {encoding[:20]!r}, not read")
            length = resp.headers.get("content-length", "")
            if length.isdigit() and int(length) > self._max_bytes:
                raise _KeySetRefused(f"key set Content-Length over CDS_JWKS_MAX_BYTES ({self._max_bytes} bytes)")
            body = bytearray()
            async for chunk in resp.aiter_raw():
                body += chunk
                if len(body) > self._max_bytes:
                    raise _KeySetRefused(f"key set body over CDS_JWKS_MAX_BYTES ({self._max_bytes} bytes)")
        return bytes(body)

    def _refused(self, trusted: TrustedClient, kid: str, reason: str) -> AuthenticationFailed:
        logger.warning("jku key set refused", extra={"iss": trusted.iss, "jku": trusted.jku, "reason": reason})
        return AuthenticationFailed(reason, iss=trusted.iss, kid=kid)


class _KeySetRefused(Exception):
    """The key-set URL answered, but not with something read as a key set (redirect, status, size)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _find(jwks: dict[str, Any], kid: str) -> dict[str, Any] | None:
    keys = jwks.get("keys")
    for key in keys if isinstance(keys, list) else []:
        if isinstance(key, dict) and key.get("kid") == kid:
            return key
    return None


class ClientAuthenticator:
    """Built once at start-up; ``authenticate`` runs on every discovery, service and feedback call."""

    def __init__(self, registry: ClientRegistry, keys: KeySets, replay: ReplayCache, settings: AuthSettings) -> None:
        refused = config.REFUSED_JWT_ALGORITHMS.intersection(settings.algorithms)
        if refused:
            raise ValueError(f"algorithms never accepted: {sorted(refused)}")
        self.registry = registry
        self.keys = keys
        self.replay = replay
        self.settings = settings

    async def authenticate(self, authorization: str | None, path: str) -> ClientIdentity:
        """Verify the bearer JWT for a call to ``path``; raise ``AuthenticationFailed`` (logged) if not valid.

        Whatever goes wrong while checking a token is a refusal logged on one line, never a traceback.
        """
        try:
            return await self._verify(authorization, path)
        except AuthenticationFailed as failure:
            self._log(failure)
            raise
        except ReplayCacheUnavailable:
            raise
        except Exception as exc:  # a check that could not cope with the token: refuse it all the same
            unexpected = AuthenticationFailed(f"token could not be checked ({type(exc).__name__})")
            self._log(unexpected)
            raise unexpected from exc

    @staticmethod
    def _log(failure: AuthenticationFailed) -> None:
        logger.warning(
            "client authentication failed",
            extra={"reason": failure.reason, "iss": failure.iss, "kid": failure.kid, "jti": failure.jti},
        )

    async def _verify(self, authorization: str | None, path: str) -> ClientIdentity:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("no bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
            raise AuthenticationFailed("malformed token") from exc
        if not isinstance(header, dict) or not isinstance(unverified, dict):
            raise AuthenticationFailed("malformed token")
        iss = unverified.get("iss") if isinstance(unverified.get("iss"), str) else None
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        jti = unverified.get("jti") if isinstance(unverified.get("jti"), str) else None
        _check_types(header, unverified, iss=iss, kid=kid, jti=jti)
        algorithm = header["alg"]
        if algorithm in config.REFUSED_JWT_ALGORITHMS or algorithm not in self.settings.algorithms:
            raise AuthenticationFailed(f"algorithm {algorithm[:20]!r} not allowed", iss=iss, kid=kid, jti=jti)
        trusted = self.registry.by_issuer(iss) if iss else None
        if trusted is None:
            raise AuthenticationFailed("untrusted iss", iss=iss, kid=kid, jti=jti)
        jku = header.get("jku")
        if jku is not None and jku != trusted.jku:
            raise AuthenticationFailed("jku not registered for this issuer", iss=iss, kid=kid, jti=jti)
        if kid is None:
            raise AuthenticationFailed("no kid", iss=iss, jti=jti)
        key = await self.keys.key_for(trusted, kid, algorithm)
        audience = trusted.audience or (trusted.audience_base or self.settings.public_base_url).rstrip("/") + path
        leeway = self.settings.leeway_seconds
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=audience,
                issuer=trusted.iss,
                leeway=leeway,
                options={"require": ["exp", "iat", "iss", "aud", "jti"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
            wrong_aud = isinstance(exc, jwt.InvalidAudienceError)
            why = f"; expected aud {audience!r}, received {str(unverified.get('aud'))[:MAX_LOGGED_LENGTH]!r}"
            reason = f"invalid token ({type(exc).__name__}{why if wrong_aud else ''})"
            raise AuthenticationFailed(reason, iss=iss, kid=kid, jti=jti) from exc
        now = time.time()
        issued_at, expires = float(claims["iat"]), float(claims["exp"])
        if issued_at > now + leeway:
            raise AuthenticationFailed("iat in the future", iss=iss, kid=kid, jti=jti)
        lifetime = trusted.max_token_lifetime_seconds or self.settings.max_lifetime_seconds
        if expires - issued_at > lifetime:
            raise AuthenticationFailed(
                f"exp - iat over this client's token lifetime ({lifetime} s)", iss=iss, kid=kid, jti=jti
            )
        if trusted.sub is not None and claims.get("sub") != trusted.sub:
            raise AuthenticationFailed("sub is not this client's registered sub", iss=iss, kid=kid, jti=jti)
        remembers_since = self.replay.remembers_since
        if remembers_since is not None and issued_at < math.floor(remembers_since):
            raise AuthenticationFailed(
                "issued before the replay cache started (in-memory: replay cannot be ruled out)",
                iss=iss,
                kid=kid,
                jti=jti,
            )
        tenant = claims.get("tenant")
        if trusted.tenants and tenant not in trusted.tenants:
            raise AuthenticationFailed("tenant not allowed", iss=iss, kid=kid, jti=jti)
        ttl = math.ceil(expires - now) + leeway
        if not await self.replay.first_use(f"{trusted.iss}|{claims['jti']}", ttl, issued_at):
            raise AuthenticationFailed(
                "replayed jti, or issued before the replay cache lost its memory (Redis restart)",
                iss=iss,
                kid=kid,
                jti=jti,
            )
        return ClientIdentity(
            issuer=trusted.iss,
            tenant=tenant if isinstance(tenant, str) else None,
            fhir_servers=trusted.fhir_servers,
        )


MAX_TIME_CLAIM = 2**53
"""Largest ``exp``/``iat``/``nbf`` taken as a number: beyond, a float cannot hold it (10^400 would overflow)."""


def _is_number(value: Any) -> bool:
    """A JSON number usable as a time: finite and within +-2^53 (an int of 10^400 is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return -MAX_TIME_CLAIM <= value <= MAX_TIME_CLAIM
    return math.isfinite(value) and -MAX_TIME_CLAIM <= value <= MAX_TIME_CLAIM


def _check_types(header: dict[str, Any], claims: dict[str, Any], **who: str | None) -> None:
    """Every header field and claim the checks read has the JSON type the JWT and CDS Hooks specs give it."""
    problems = []
    if not isinstance(header.get("alg"), str):
        problems.append("alg is not a string")
    for name in ("kid", "jku", "typ"):
        if name in header and not isinstance(header[name], str):
            problems.append(f"{name} is not a string")
    for name in ("iss", "tenant", "sub"):
        if name in claims and not isinstance(claims[name], str):
            problems.append(f"{name} is not a string")
    jti = claims.get("jti")
    if "jti" in claims and (not isinstance(jti, str) or not jti.strip() or len(jti) > MAX_JTI_LENGTH):
        problems.append(f"jti is not a non-empty string of at most {MAX_JTI_LENGTH} characters")
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_number(claims[name]):
            problems.append(f"{name} is not a finite number")
    aud = claims.get("aud")
    if "aud" in claims and not (
        isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        problems.append("aud is not a string or a list of strings")
    if problems:
        raise AuthenticationFailed("malformed token: " + "; ".join(problems), **who)
