"""A small, strict SMART on FHIR "EHR" on loopback: an authorization server and a FHIR facade.

Written for the timeline app's tests and used by ``cds-service sandbox`` so that the CDS Hooks sandbox can
launch the cards' "Open timeline" link locally. Development only: it holds its codes and tokens in memory.

- ``/fhir/.well-known/smart-configuration``: SMART discovery (PKCE S256 only; ``permission-v2`` or, as an
  older server, ``permission-v1`` only, granting ``patient/*.read``).
- ``/fhir/_services/smart/Launch``: the CDS Hooks sandbox's launch protocol (POST ``{launchUrl, parameters}``
  → ``{launch_id}``); ``new_launch`` does the same for an EHR launch.
- ``/auth/authorize``: checks the client id, the exact redirect URI, ``response_type=code``, the PKCE S256
  challenge, ``aud`` = this FHIR base, the launch id and the scopes, then shows a consent page.
- ``/auth/token``: single-use codes (a second use fails and revokes the tokens of the first), the same
  redirect URI and client, the PKCE verifier checked against the challenge.
- ``/fhir/...``: forwards to a real FHIR server after checking the bearer token: known, unexpired, for this
  patient only, for a resource type its scopes grant. Without a token a request is refused, unless the EHR is
  ``open_without_token`` (the sandbox reads its FHIR server without one); a bad token is always refused.

Every request is recorded (path, whether a valid token came with it); tokens and codes are never printed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

ScopeStyle = Literal["v2", "v1"]
READ_TYPES = (
    "Patient",
    "Condition",
    "Observation",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationAdministration",
    "Medication",
)


@dataclass
class Grant:
    """What an authorization (and the token it yields) allows."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    scope: str
    patient: str
    aud: str
    state: str
    tokens: list[str] = field(default_factory=list)
    expires: float = 0.0


@dataclass
class Seen:
    """What the EHR received, for the tests' assertions."""

    authorize: list[dict[str, str]] = field(default_factory=list)
    token_errors: list[str] = field(default_factory=list)
    tokens_issued: int = 0
    fhir: list[tuple[str, str, bool]] = field(default_factory=list)  # (method, path, valid token)
    launches: list[dict[str, Any]] = field(default_factory=list)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")


def scope_allows(scope: str, resource_type: str) -> bool:
    """SMART v2 ``patient/X.rs`` (or ``.r``/``.s`` parts) and v1 ``patient/X.read``, ``patient/*.read``."""
    for item in scope.split():
        if not item.startswith("patient/"):
            continue
        target, _, access = item.removeprefix("patient/").partition(".")
        if target in (resource_type, "*") and (access == "read" or "r" in access or "s" in access):
            return True
    return False


class SmartEhr:
    """The EHR; ``with SmartEhr(...) as ehr`` serves on 127.0.0.1 on a free port."""

    def __init__(
        self,
        upstream_fhir: str,
        *,
        client_id: str,
        redirect_uri: str,
        scope_style: ScopeStyle = "v2",
        open_without_token: bool = False,
        standalone_patient: str | None = None,
        port: int = 0,
    ) -> None:
        self.upstream = upstream_fhir.rstrip("/")
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope_style = scope_style
        self.open_without_token = open_without_token
        self.standalone_patient = standalone_patient
        self.seen = Seen()
        self._launches: dict[str, str] = {}
        self._pending: dict[str, Grant] = {}  # consent transactions
        self._codes: dict[str, Grant] = {}
        self._used_codes: dict[str, Grant] = {}
        self._tokens: dict[str, Grant] = {}
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=30.0)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fhir_base(self) -> str:
        return f"{self.base}/fhir"

    def __enter__(self) -> SmartEhr:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def new_launch(self, patient: str) -> str:
        """An EHR launch context for ``patient``: the ``launch`` parameter the EHR gives the app."""
        launch = secrets.token_urlsafe(12)
        with self._lock:
            self._launches[launch] = patient
        return launch

    # -- the protocol ------------------------------------------------------------------------------------------

    def smart_configuration(self) -> dict[str, Any]:
        permission = "permission-v2" if self.scope_style == "v2" else "permission-v1"
        return {
            "issuer": self.base,
            "authorization_endpoint": f"{self.base}/auth/authorize",
            "token_endpoint": f"{self.base}/auth/token",
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": ["code"],
            "capabilities": [
                "launch-ehr",
                "launch-standalone",
                "client-public",
                "context-ehr-patient",
                "context-standalone-patient",
                "permission-patient",
                permission,
            ],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        """Check the request; (400, reason) or (200, consent page)."""
        self.seen.authorize.append({k: v for k, v in query.items() if k != "code_challenge"})
        if query.get("client_id") != self.client_id:
            return 400, "unknown client_id", {}
        if query.get("redirect_uri") != self.redirect_uri:
            return 400, "redirect_uri does not match the registered one exactly", {}
        problems = []
        if query.get("response_type") != "code":
            problems.append("response_type must be code")
        if query.get("code_challenge_method") != "S256" or len(query.get("code_challenge", "")) != 43:
            problems.append("PKCE S256 code_challenge required")
        if query.get("aud") != self.fhir_base:
            problems.append("aud is not this FHIR server")
        if not query.get("state"):
            problems.append("state required")
        scopes = query.get("scope", "").split()
        patient: str | None
        if "launch" in scopes:
            with self._lock:
                patient = self._launches.get(query.get("launch", ""))
            if patient is None:
                problems.append("unknown launch")
        elif "launch/patient" in scopes:
            patient = self.standalone_patient
        else:
            patient = None
            problems.append("no launch context requested")
        suffix = ".rs" if self.scope_style == "v2" else ".read"
        allowed = {"launch", "launch/patient", "openid", "fhirUser"} | {f"patient/{t}{suffix}" for t in READ_TYPES}
        unknown = [s for s in scopes if s not in allowed]
        if unknown:
            problems.append(f"scopes not offered: {' '.join(unknown)}")
        if problems or patient is None:
            return 400, "; ".join(problems) or "no patient", {}
        granted = " ".join(s for s in scopes if s.startswith("patient/") or s in ("launch", "launch/patient"))
        if self.scope_style == "v1":
            granted = "launch patient/*.read"  # an older server grants the v1 wildcard
        grant = Grant(
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            code_challenge=query["code_challenge"],
            scope=granted,
            patient=patient,
            aud=query["aud"],
            state=query["state"],
        )
        transaction = secrets.token_urlsafe(12)
        with self._lock:
            self._pending[transaction] = grant
        page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Allow access?</title></head><body>"
            f"<h1>Allow access?</h1><p>The app <strong>{html.escape(self.client_id)}</strong> asks to read "
            f"the record of patient <strong>{html.escape(patient)}</strong>:</p><p><code>{html.escape(granted)}"
            f'</code></p><form method="post" action="/auth/decide"><input type="hidden" name="transaction" '
            f'value="{transaction}"><button name="decision" value="allow">Allow</button> '
            '<button name="decision" value="deny">Deny</button></form></body></html>'
        )
        return 200, page, {}

    def decide(self, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        with self._lock:
            grant = self._pending.pop(form.get("transaction", ""), None)
        if grant is None:
            return 400, "unknown or used consent", {}
        if form.get("decision") != "allow":
            query = urlencode({"error": "access_denied", "state": grant.state})
            return 302, "", {"Location": f"{grant.redirect_uri}?{query}"}
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = grant
        return 302, "", {"Location": f"{grant.redirect_uri}?{urlencode({'code': code, 'state': grant.state})}"}

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        def refuse(error: str, why: str) -> tuple[int, dict[str, Any]]:
            self.seen.token_errors.append(why)
            return 400, {"error": error, "error_description": why}

        if form.get("grant_type") != "authorization_code":
            return refuse("unsupported_grant_type", "grant_type must be authorization_code")
        code = form.get("code", "")
        with self._lock:
            grant = self._codes.pop(code, None)
            if grant is None and code in self._used_codes:
                for token in self._used_codes[code].tokens:  # a replayed code revokes what it gave
                    self._tokens.pop(token, None)
                return refuse("invalid_grant", "code already used")
            if grant is not None:
                self._used_codes[code] = grant
        if grant is None:
            return refuse("invalid_grant", "unknown code")
        if form.get("client_id") != grant.client_id:
            return refuse("invalid_client", "client_id differs from the authorization request")
        if form.get("redirect_uri") != grant.redirect_uri:
            return refuse("invalid_grant", "redirect_uri differs from the authorization request")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or s256(verifier) != grant.code_challenge:
            return refuse("invalid_grant", "PKCE verifier does not match the S256 challenge")
        token = secrets.token_urlsafe(32)
        grant.tokens.append(token)
        grant.expires = time.monotonic() + 300
        with self._lock:
            self._tokens[token] = grant
        self.seen.tokens_issued += 1
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": grant.scope,
            "patient": grant.patient,
        }

    def check_fhir(self, method: str, path: str, authorization: str | None) -> tuple[int, str] | None:
        """None when the request may go on; else (status, reason). Records the request."""
        if authorization is None:
            self.seen.fhir.append((method, path, False))
            return None if self.open_without_token else (401, "a bearer token is required")
        token = authorization.removeprefix("Bearer ").strip()
        with self._lock:
            grant = self._tokens.get(token)
        if grant is None or grant.expires < time.monotonic():
            self.seen.fhir.append((method, path, False))
            return 401, "invalid or expired token"
        parts = urlsplit(path)
        resource_path = parts.path.removeprefix("/fhir/").strip("/")
        resource_type = resource_path.split("/", 1)[0]
        if not scope_allows(grant.scope, resource_type):
            self.seen.fhir.append((method, path, False))
            return 403, f"scope does not grant {resource_type}"
        query = parse_qs(parts.query)
        patients = query.get("patient", []) + query.get("subject", [])
        if resource_type == "Patient":
            patients.append(resource_path.removeprefix("Patient/"))
        if not patients or any(p.removeprefix("Patient/") != grant.patient for p in patients):
            self.seen.fhir.append((method, path, False))
            return 403, "only the launch patient's data"
        self.seen.fhir.append((method, path, True))
        return None

    # -- HTTP ---------------------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        ehr = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _cors(self) -> dict[str, str]:
                return {
                    "Access-Control-Allow-Origin": self.headers.get("Origin") or "*",
                    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept",
                    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Vary": "Origin",
                }

            def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in {**self._cors(), "Content-Type": content_type, **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, body: object) -> None:
                self._send(status, json.dumps(body).encode(), "application/json")

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _form(self) -> dict[str, str]:
                return {k: v[0] for k, v in parse_qs(self._body().decode()).items()}

            def do_OPTIONS(self) -> None:
                self._send(204, b"", "text/plain")

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/fhir/.well-known/smart-configuration":
                    self._json(200, ehr.smart_configuration())
                elif parts.path == "/auth/authorize":
                    status, page, headers = ehr.authorize({k: v[0] for k, v in parse_qs(parts.query).items()})
                    self._send(status, page.encode(), "text/html; charset=utf-8", headers)
                elif parts.path.startswith("/fhir/") or parts.path == "/fhir":
                    self._forward("GET", None)
                else:
                    self._send(404, b"not found", "text/plain")

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/fhir/_services/smart/Launch":
                    request = json.loads(self._body() or b"{}")
                    patient = str(request.get("parameters", {}).get("patient", ""))
                    ehr.seen.launches.append(request)
                    self._json(200, {"launch_id": ehr.new_launch(patient)})
                elif parts.path == "/auth/decide":
                    status, page, headers = ehr.decide(self._form())
                    self._send(status, page.encode(), "text/html; charset=utf-8", headers)
                elif parts.path == "/auth/token":
                    status, body = ehr.token(self._form())
                    self._json(status, body)
                elif parts.path.startswith("/fhir"):
                    self._forward("POST", self._body())
                else:
                    self._send(404, b"not found", "text/plain")

            def _forward(self, method: str, body: bytes | None) -> None:
                refused = ehr.check_fhir(method, self.path, self.headers.get("Authorization"))
                if refused is not None:
                    status, reason = refused
                    outcome = {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "security", "diagnostics": reason}],
                    }
                    self._send(status, json.dumps(outcome).encode(), "application/fhir+json")
                    return
                target = ehr.upstream + self.path.removeprefix("/fhir")
                headers = {"Accept": "application/fhir+json"}
                if self.headers.get("Content-Type"):
                    headers["Content-Type"] = self.headers["Content-Type"]
                answer = ehr._http.request(method, target, content=body, headers=headers)
                content = answer.content.replace(ehr.upstream.encode(), ehr.fhir_base.encode())
                self._send(answer.status_code, content, answer.headers.get("content-type", "application/fhir+json"))

        return Handler
