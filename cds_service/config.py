"""The service's settings (environment prefix ``CDS_``): the store settings offline commands need, and the
serving settings that extend them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REFUSED_JWT_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})
"""Never accepted, whatever is configured: no signature, or a shared secret (CDS Hooks 2.0 requires keys)."""

MAX_PRODUCTION_BODY_BYTES = 100 * 1024 * 1024
"""Production refuses a larger ``CDS_MAX_BODY_BYTES``: a hook call with a full chart is a few MiB."""

# Defaults named once: the settings below and the components built without settings (FetchLimits,
# AuthSettings, KeySets in tests and tools) take them from here.
FHIR_DEADLINE_SECONDS = 3.0
FHIR_MAX_PAGES = 5
FHIR_MAX_RESOURCES = 2000
FHIR_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
FHIR_MAX_CALL_BYTES = 20 * 1024 * 1024
AUTH_ALGORITHMS = ("ES384", "RS384")
AUTH_LEEWAY_SECONDS = 60
AUTH_MAX_TOKEN_LIFETIME_SECONDS = 3600  # a client's own limit may be lower (the sandbox entry: 300 s)
JWKS_MAX_BYTES = 64 * 1024  # a key set of a few keys is a few KiB
JWKS_FETCH_TIMEOUT_SECONDS = 5.0  # the whole fetch, connect to last byte


PLACEHOLDER_MARKERS = ("replace-me", "change-me")
"""Values shipped in templates (deploy/kubernetes/secret.yaml) that production refuses until they are filled."""

DATABASE_URL_EXAMPLES = "sqlite:///var/cds-service.sqlite3 or postgresql+psycopg://user:password@host:5432/db"


def normalized_database_url(url: str) -> str:
    """The SQLAlchemy URL of the store, or ValueError with one line saying what to write instead.

    ``postgres://`` and ``postgresql://`` (as hosting platforms hand them out) mean PostgreSQL through psycopg;
    only SQLite and PostgreSQL are supported, and the PostgreSQL driver must be installed. Messages never
    repeat the URL (it may carry a password).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    scheme, separator, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        url = f"postgresql+psycopg://{rest}"
    try:
        if not separator:
            raise ArgumentError(url)
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"not a database URL: write {DATABASE_URL_EXAMPLES}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"{backend}:// is not supported: write {DATABASE_URL_EXAMPLES}")
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise ValueError(f"unknown driver {parsed.drivername!r}: write {DATABASE_URL_EXAMPLES}") from None
    except ImportError:
        if parsed.drivername == "postgresql+psycopg":
            raise ValueError("PostgreSQL needs its driver: pip install 'cds-service[postgres]'") from None
        raise ValueError(
            f"the driver of {parsed.drivername}:// is not installed: write postgresql+psycopg://... "
            "and pip install 'cds-service[postgres]'"
        ) from None
    if backend == "postgresql" and not parsed.host:
        raise ValueError(f"a PostgreSQL URL needs a host: write {DATABASE_URL_EXAMPLES}")
    return url


class StoreSettings(BaseSettings):
    """What the offline commands need (``db``, ``report``, ``demo --fill-store``): the store and the log level.

    Every field can be set as ``CDS_<NAME>`` in the environment or a ``.env`` file; the serving settings
    (``Settings``) extend these.
    """

    model_config = SettingsConfigDict(env_prefix="CDS_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "production",
        description="`production` (the default) refuses insecure settings; only `development` allows them.",
    )
    database_url: str = Field(
        "sqlite:///var/cds-service.sqlite3",
        description="SQLAlchemy URL of the feedback store (SQLite file by default; PostgreSQL works too).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, url: str) -> str:
        return normalized_database_url(url)


class Settings(StoreSettings):
    """Serving settings; every field can be set as ``CDS_<NAME>`` in the environment or a ``.env`` file."""

    host: str = Field("127.0.0.1", description="Address `cds-service serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `cds-service serve` listens on.")
    max_body_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="Requests with a larger body are refused with 413."
    )
    max_header_bytes: int = Field(
        32 * 1024,
        ge=4096,
        le=1024 * 1024,
        description="Largest request line plus headers `cds-service serve` reads (every install); larger: 431/400.",
    )
    max_json_depth: int = Field(
        64, ge=8, le=512, description="Deepest nesting of arrays and objects in a request body; deeper: 400."
    )
    database_connect_timeout_seconds: int = Field(
        2, ge=1, le=60, description="PostgreSQL connect timeout (libpq counts whole seconds, at least 2)."
    )
    database_statement_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="PostgreSQL statement timeout and SQLite busy timeout; also the deadline of a feedback write.",
    )
    readiness_timeout_seconds: float = Field(
        1.5, gt=0, le=10, description="`/readyz` answers within this time: a dependency slower than it is not ready."
    )
    issued_card_spool_records: int = Field(
        100_000,
        ge=100,
        description="Issued-card records kept in memory while the database cannot take them (retried; beyond: "
        "dropped, counted and logged).",
    )
    cors_allowed_origins: list[str] = Field(
        default_factory=lambda: ["https://sandbox.cds-hooks.org"],
        description="Browser origins allowed to call the service (JSON list).",
    )
    site_parameters_path: Path | None = Field(
        None,
        description="A site's overrides of the clinical parameters (YAML; see README). Its content hash is added "
        "to the knowledge version on every card.",
    )
    public_base_url: str = Field(
        "",
        description="External URL of this service (behind any proxy): the JWT audience and the override-reason "
        "CodeSystem's base; unset, derived from host and port.",
    )
    fhir_allowed_servers: list[str] = Field(
        default_factory=list,
        description="FHIR server base URLs the service may fetch missing prefetch from (exact match).",
    )
    fhir_allow_http: bool = Field(False, description="Allow http:// FHIR servers (development only).")
    fhir_connect_timeout_seconds: float = Field(2.0, gt=0, description="Connect timeout of each FHIR request.")
    fhir_read_timeout_seconds: float = Field(5.0, gt=0, description="Read timeout of each FHIR request.")
    fhir_deadline_seconds: float = Field(
        FHIR_DEADLINE_SECONDS,
        gt=0,
        description="Overall deadline for all fallback fetches of one hook call (run in parallel).",
    )
    fhir_server_max_concurrent: int = Field(
        10, ge=1, le=200, description="Requests in flight to one FHIR server at once (its own connection pool)."
    )
    fhir_server_max_queued: int = Field(
        50, ge=0, description="Requests waiting for one FHIR server's slots; beyond, they fail at once (busy)."
    )
    fhir_breaker_failures: int = Field(
        5, ge=1, description="Consecutive failures (timeouts, errors, 5xx) that open a FHIR server's circuit."
    )
    fhir_breaker_open_seconds: float = Field(
        30.0, gt=0, description="How long an open circuit refuses calls before one probe is let through."
    )
    fhir_max_pages: int = Field(FHIR_MAX_PAGES, ge=1, description="Bundle pages followed per prefetch key.")
    fhir_max_resources: int = Field(FHIR_MAX_RESOURCES, ge=1, description="Resources read per prefetch key.")
    fhir_max_response_bytes: int = Field(FHIR_MAX_RESPONSE_BYTES, ge=1024, description="Largest FHIR response read.")
    fhir_max_call_bytes: int = Field(
        FHIR_MAX_CALL_BYTES,
        ge=1024,
        description="Bytes read from FHIR servers per hook call, all keys and pages together.",
    )
    auth_disabled: bool = Field(
        False,
        description="Development only: admit every caller without a JWT (logged loudly; refused in production).",
    )
    client_registry_path: str | None = Field(
        None, description="The trusted-client registry file (YAML or JSON); required unless auth is disabled."
    )
    auth_algorithms: list[str] = Field(
        default_factory=lambda: list(AUTH_ALGORITHMS),
        description="JWT algorithms accepted (`none` and HS* are always refused).",
    )
    auth_leeway_seconds: int = Field(
        AUTH_LEEWAY_SECONDS, ge=0, le=300, description="Clock leeway for exp, nbf and iat."
    )
    auth_max_token_lifetime_seconds: int = Field(
        AUTH_MAX_TOKEN_LIFETIME_SECONDS,
        ge=1,
        le=3600,
        description="Largest `exp - iat` of a client JWT for a registry entry without its own "
        "`max_token_lifetime_seconds` (at most one hour, the CDS Hooks security best practice).",
    )
    jwks_cache_seconds: int = Field(3600, ge=0, description="How long a key set fetched from a jku is reused.")
    jwks_max_bytes: int = Field(
        JWKS_MAX_BYTES,
        ge=1024,
        description="Largest key set read from a jku: a larger body (or Content-Length) is cut while streaming "
        "and the token refused (401).",
    )
    jwks_fetch_timeout_seconds: float = Field(
        JWKS_FETCH_TIMEOUT_SECONDS,
        gt=0,
        le=60,
        description="Deadline of one key-set fetch from a jku, connect to last byte.",
    )
    replay_cache: Literal["memory", "redis"] = Field(
        "memory", description="Where seen `jti`s are kept: `memory` (one process) or `redis` (several replicas)."
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for the replay cache.")
    facts_cache_size: int = Field(
        256,
        ge=0,
        description="Patients' charts kept mapped in memory by content for repeated calls (0: off).",
    )
    smart_client_id: str = Field(
        "hcc-timeline",
        min_length=1,
        description="Client id of the timeline app (`/app/`) as registered with the EHR's SMART authorization "
        "server (a public client with PKCE).",
    )
    smart_allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins the timeline app may call besides the FHIR servers in CDS_FHIR_ALLOWED_SERVERS "
        "(e.g. an authorization server on another host): its Content-Security-Policy `connect-src`.",
    )
    metrics_access: Literal["off", "token", "open"] | None = Field(
        None,
        description="`/metrics`: `off` (404), `token` (needs CDS_OPERATOR_TOKEN) or `open`; "
        "unset: open in development, off in production.",
    )
    docs_access: Literal["off", "token", "open"] | None = Field(
        None,
        description="`/docs` and `/openapi.json`: `off`, `token` or `open`; "
        "unset: open in development, off in production.",
    )
    operator_token: SecretStr | None = Field(
        None,
        description="Bearer token (32+ characters) for `/metrics` and the API docs when their access is `token`.",
    )

    review_queue_key: SecretStr | None = Field(
        None,
        description="Site key (Fernet; `cds-service review key` makes one) sealing the pharmacist review queue's "
        "patient references; unset: no review queue is kept. The review page at `/review` needs "
        "CDS_OPERATOR_TOKEN.",
    )

    @property
    def metrics_access_effective(self) -> Literal["off", "token", "open"]:
        """``CDS_METRICS_ACCESS``, or its environment default (open in development, off in production)."""
        return self.metrics_access or ("open" if self.environment == "development" else "off")

    @property
    def docs_access_effective(self) -> Literal["off", "token", "open"]:
        """``CDS_DOCS_ACCESS``, or its environment default (open in development, off in production)."""
        return self.docs_access or ("open" if self.environment == "development" else "off")

    @model_validator(mode="after")
    def _derive_public_base_url(self) -> Settings:
        if not self.public_base_url:
            self.public_base_url = served_base_url(self.host, self.port)
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_settings(self) -> Settings:
        problems = self.insecure_for_production() if self.environment == "production" else []
        problems += self._always_invalid()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def insecure_for_production(self) -> list[str]:
        """Every setting production refuses, one line each (deny by default: only `development` allows them)."""
        problems: list[str] = []
        base = urlsplit(self.public_base_url)
        if base.scheme != "https" or not base.hostname or base.username is not None:
            problems.append(
                f"CDS_PUBLIC_BASE_URL must be an https:// URL with a host in production (got {self.public_base_url!r})"
            )
        for origin in self.cors_allowed_origins:
            parts = urlsplit(origin)
            if origin == "*":
                problems.append("CDS_CORS_ALLOWED_ORIGINS may not contain a wildcard (*) in production")
            elif parts.scheme != "https" or not parts.hostname:
                problems.append(f"CDS_CORS_ALLOWED_ORIGINS entry {origin!r} is not an https:// origin")
        if self.fhir_allow_http:
            problems.append("CDS_FHIR_ALLOW_HTTP=true is refused in production")
        for server in self.fhir_allowed_servers:
            if urlsplit(server).scheme != "https":
                problems.append(f"CDS_FHIR_ALLOWED_SERVERS entry {server!r} is not an https:// URL")
        for origin in self.smart_allowed_origins:
            parts = urlsplit(origin)
            if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
                problems.append(f"CDS_SMART_ALLOWED_ORIGINS entry {origin!r} is not an https:// origin")
        if self.auth_disabled:
            problems.append("CDS_AUTH_DISABLED=true is refused in production")
        if not self.auth_algorithms:
            problems.append("CDS_AUTH_ALGORITHMS may not be empty in production")
        if self.max_body_bytes > MAX_PRODUCTION_BODY_BYTES:
            problems.append(
                f"CDS_MAX_BODY_BYTES over {MAX_PRODUCTION_BODY_BYTES} (100 MiB) is refused in production "
                f"(got {self.max_body_bytes})"
            )
        secrets = {
            "CDS_DATABASE_URL": self.database_url,
            "CDS_REDIS_URL": self.redis_url,
            "CDS_PUBLIC_BASE_URL": self.public_base_url,
            "CDS_OPERATOR_TOKEN": self.operator_token.get_secret_value() if self.operator_token else "",
        }
        for name, value in secrets.items():
            if any(marker in value.lower() for marker in PLACEHOLDER_MARKERS):
                problems.append(f"{name} still holds a template placeholder (REPLACE-ME): set the site's own value")
        return problems

    def _always_invalid(self) -> list[str]:
        problems: list[str] = []
        refused = REFUSED_JWT_ALGORITHMS.intersection(self.auth_algorithms)
        if refused:
            problems.append(f"CDS_AUTH_ALGORITHMS may never include {sorted(refused)}")
        if not self.auth_disabled and not self.client_registry_path:
            problems.append(
                "CDS_CLIENT_REGISTRY_PATH is required (or CDS_ENVIRONMENT=development with CDS_AUTH_DISABLED=true)"
            )
        if self.replay_cache == "redis" and urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            problems.append("CDS_REDIS_URL must be a redis://, rediss:// or unix:// URL, e.g. redis://host:6379/0")
        for server in self.fhir_allowed_servers:
            parts = urlsplit(server)
            if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
                problems.append(f"CDS_FHIR_ALLOWED_SERVERS entry {server!r} is not an http(s) URL with a host")
        needs_token = "token" in (self.metrics_access_effective, self.docs_access_effective)
        token = self.operator_token.get_secret_value() if self.operator_token else ""
        if needs_token and len(token) < 32:
            problems.append("CDS_OPERATOR_TOKEN of at least 32 characters is required when an access is `token`")
        if self.review_queue_key is not None and not _is_fernet_key(self.review_queue_key.get_secret_value()):
            problems.append("CDS_REVIEW_QUEUE_KEY is not a Fernet key (make one with `cds-service review key`)")
        return problems


def _is_fernet_key(key: str) -> bool:
    from cryptography.fernet import Fernet

    try:
        Fernet(key.encode())
    except ValueError:
        return False
    return True


def served_base_url(host: str, port: int) -> str:
    """The URL a client on this machine calls when the service binds ``host:port`` (a wildcard host: loopback).

    CDS Hooks clients put the exact URL they call into the JWT ``aud``, so the default follows the server.
    """
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding to it
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
