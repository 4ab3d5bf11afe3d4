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
    monkeypatch.setenv("CDS_AFP_MAX_AGE_DAYS", "60")
    monkeypatch.setenv("CDS_CORS_ALLOWED_ORIGINS", '["https://ehr.example.org"]')
    settings = Settings()
    assert settings.afp_max_age_days == 60
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


def test_production_accepts_https() -> None:
    assert Settings(environment="production", public_base_url="https://cds.example.org").environment == "production"
