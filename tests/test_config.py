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
