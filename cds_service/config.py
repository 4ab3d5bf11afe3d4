"""One settings object for the whole service (environment prefix ``CDS_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service settings; every field can be set as ``CDS_<NAME>`` in the environment or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="CDS_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development", description="`production` refuses development-only shortcuts."
    )
    host: str = Field("127.0.0.1", description="Address `cds-service serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `cds-service serve` listens on.")
    database_url: str = Field(
        "sqlite:///var/cds-service.sqlite3",
        description="SQLAlchemy URL of the feedback store (SQLite file by default; PostgreSQL works too).",
    )
    max_body_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="Requests with a larger body are refused with 413."
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
        "http://127.0.0.1:8000",
        description="External URL of this service (behind any proxy); names the override-reason CodeSystem.",
    )
    fhir_allowed_servers: list[str] = Field(
        default_factory=list,
        description="FHIR server base URLs the service may fetch missing prefetch from (exact match).",
    )
    fhir_allow_http: bool = Field(False, description="Allow http:// FHIR servers (development only).")
    fhir_connect_timeout_seconds: float = Field(2.0, gt=0, description="Connect timeout of each FHIR request.")
    fhir_read_timeout_seconds: float = Field(5.0, gt=0, description="Read timeout of each FHIR request.")
    fhir_deadline_seconds: float = Field(
        3.0, gt=0, description="Overall deadline for all fallback fetches of one hook call (run in parallel)."
    )
    fhir_max_pages: int = Field(5, ge=1, description="Bundle pages followed per prefetch key.")
    fhir_max_resources: int = Field(2000, ge=1, description="Resources read per prefetch key.")
    fhir_max_response_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest FHIR response read.")
    auth_disabled: bool = Field(
        False,
        description="Development only: admit every caller without a JWT (logged loudly; refused in production).",
    )
    client_registry_path: str | None = Field(
        None, description="The trusted-client registry file (YAML or JSON); required unless auth is disabled."
    )
    auth_algorithms: list[str] = Field(
        default_factory=lambda: ["ES384", "RS384"],
        description="JWT algorithms accepted (`none` and HS* are always refused).",
    )
    auth_leeway_seconds: int = Field(60, ge=0, le=300, description="Clock leeway for exp, nbf and iat.")
    jwks_cache_seconds: int = Field(3600, ge=0, description="How long a key set fetched from a jku is reused.")
    replay_cache: Literal["memory", "redis"] = Field(
        "memory", description="Where seen `jti`s are kept: `memory` (one process) or `redis` (several replicas)."
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for the replay cache.")
    parse_cache_size: int = Field(
        4096,
        ge=0,
        description="Validated FHIR resources kept in memory by content for repeated calls (0: off).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment == "production":
            if not self.public_base_url.startswith("https://"):
                raise ValueError("production requires CDS_PUBLIC_BASE_URL to be an https:// URL")
            if "*" in self.cors_allowed_origins:
                raise ValueError("production refuses a wildcard in CDS_CORS_ALLOWED_ORIGINS")
            if self.fhir_allow_http:
                raise ValueError("production refuses CDS_FHIR_ALLOW_HTTP")
            if self.auth_disabled:
                raise ValueError("production refuses CDS_AUTH_DISABLED")
        refused = {"none", "HS256", "HS384", "HS512"}.intersection(self.auth_algorithms)
        if refused:
            raise ValueError(f"CDS_AUTH_ALGORITHMS may never include {sorted(refused)}")
        if not self.auth_disabled and not self.client_registry_path:
            raise ValueError("CDS_CLIENT_REGISTRY_PATH is required (or CDS_AUTH_DISABLED=true for local development)")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
