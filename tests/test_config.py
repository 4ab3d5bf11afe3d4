"""Settings: documented in the README, safe in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cds_service.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme_table(name: str) -> None:
    assert f"| `CDS_{name.upper()}` |" in README


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_FHIR_MAX_PAGES", "7")
    monkeypatch.setenv("CDS_CORS_ALLOWED_ORIGINS", '["https://ehr.example.org"]')
    settings = Settings()
    assert settings.fhir_max_pages == 7
    assert settings.cors_allowed_origins == ["https://ehr.example.org"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"public_base_url": "http://cds.example.org"}, "https://"),
        ({"public_base_url": "https://cds.example.org", "cors_allowed_origins": ["*"]}, "wildcard"),
    ],
)
def test_production_refuses_insecure_settings(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(environment="production", **overrides)  # type: ignore[arg-type]


def test_production_accepts_https_with_authentication() -> None:
    settings = Settings(
        environment="production",
        public_base_url="https://cds.example.org",
        auth_disabled=False,
        client_registry_path="config/clients.example.yaml",
    )
    assert settings.environment == "production"


def test_production_refuses_authentication_off() -> None:
    with pytest.raises(ValidationError, match="CDS_AUTH_DISABLED"):
        Settings(environment="production", public_base_url="https://cds.example.org", auth_disabled=True)


def test_authentication_needs_a_registry() -> None:
    with pytest.raises(ValidationError, match="CDS_CLIENT_REGISTRY_PATH"):
        Settings(auth_disabled=False)


@pytest.mark.parametrize("algorithm", ["none", "HS256"])
def test_symmetric_and_none_algorithms_can_never_be_configured(algorithm: str) -> None:
    with pytest.raises(ValidationError, match="never include"):
        Settings(auth_algorithms=["ES384", algorithm])


def test_environment_defaults_to_production_so_insecure_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_ENVIRONMENT")
    with pytest.raises(ValidationError, match="CDS_AUTH_DISABLED=true is refused in production"):
        Settings()
    monkeypatch.setenv("CDS_ENVIRONMENT", "development")
    assert Settings().auth_disabled


def test_production_reports_every_insecure_setting_one_line_each() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(
            environment="production",
            public_base_url="https://",
            cors_allowed_origins=["*", "http://ehr.example.org", "https://ok.example.org"],
            fhir_allow_http=True,
            fhir_allowed_servers=["http://ehr.example.org/fhir", "https://ehr.example.org/fhir"],
            auth_disabled=True,
        )
    [error] = caught.value.errors()
    lines = str(error["msg"]).removeprefix("Value error, ").splitlines()
    assert len(lines) == 6, lines
    assert lines[0].startswith("CDS_PUBLIC_BASE_URL must be an https:// URL with a host")
    assert "wildcard" in lines[1]
    assert "'http://ehr.example.org' is not an https:// origin" in lines[2]
    assert "CDS_FHIR_ALLOW_HTTP" in lines[3]
    assert "'http://ehr.example.org/fhir'" in lines[4]
    assert "CDS_AUTH_DISABLED" in lines[5]


@pytest.mark.parametrize("url", ["http://cds.example.org", "https://", "https://user@cds.example.org", "cds.example"])
def test_production_needs_an_https_public_url_with_a_real_host(url: str) -> None:
    with pytest.raises(ValidationError, match="CDS_PUBLIC_BASE_URL"):
        Settings(environment="production", public_base_url=url, auth_disabled=False, client_registry_path="x.yaml")


def test_metrics_and_docs_are_open_in_development_and_off_in_production_unless_set() -> None:
    development = Settings(environment="development")
    assert (development.metrics_access_effective, development.docs_access_effective) == ("open", "open")
    production = Settings(
        environment="production",
        public_base_url="https://cds.example.org",
        auth_disabled=False,
        client_registry_path="config/clients.example.yaml",
    )
    assert (production.metrics_access_effective, production.docs_access_effective) == ("off", "off")


def test_token_access_needs_a_long_operator_token() -> None:
    with pytest.raises(ValidationError, match="CDS_OPERATOR_TOKEN"):
        Settings(environment="development", metrics_access="token", operator_token="short")
    settings = Settings(environment="development", metrics_access="token", operator_token="x" * 32)
    assert settings.metrics_access_effective == "token"


def test_token_lifetime_cap_defaults_to_one_hour() -> None:
    assert Settings().auth_max_token_lifetime_seconds == 3600
