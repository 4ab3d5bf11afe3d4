"""The commands an operator runs without serving (demo --fill-store, report, db, fixtures, knowledge) need
only what they use, under the production default (CDS_ENVIRONMENT unset), and every configuration mistake
is one line naming the setting and the fix, exit status 2, whatever the command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds_service.cli import main
from tests.conftest import PATIENTS, REQUESTS

FILL = ["--month", "2026-08", "--months", "1", "--fixtures", str(REQUESTS), "--as-of", "2026-11-25"]


@pytest.fixture
def production_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The environment of a fresh shell: no CDS_ variable but the store's URL (a scratch SQLite file).

    tests/conftest.py sets development mode for most tests; these run as an operator's shell would.
    """
    from cds_service.config import get_settings

    monkeypatch.delenv("CDS_ENVIRONMENT")
    monkeypatch.delenv("CDS_AUTH_DISABLED")
    monkeypatch.chdir(tmp_path)  # no .env file, and a relative default store would land here
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    monkeypatch.setenv("CDS_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_demo_fill_store_then_report_under_the_production_default(
    production_defaults: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["demo", "--fill-store", production_defaults, *FILL]) == 0
    assert "Stored" in capsys.readouterr().out
    output = tmp_path / "concordance.json"
    assert main(["report", "concordance", "--format", "json", "--output", str(output)]) == 0  # CDS_DATABASE_URL
    assert json.loads(output.read_text(encoding="utf-8"))["totals"]["cards"] > 0
    assert main(["report", "concordance", "--database-url", production_defaults, "--format", "csv"]) == 0
    assert capsys.readouterr().err == ""


def test_db_upgrade_current_and_prune_need_only_the_database_url(
    production_defaults: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    assert "(current)" in capsys.readouterr().out
    assert main(["db", "prune", "--older-than", "730"]) == 0
    assert "deleted 0 issued cards, 0 feedback reports older than 730 days" in capsys.readouterr().out


def test_demo_and_knowledge_table_under_the_production_default(
    production_defaults: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--fixtures", str(REQUESTS), "--as-of", "2026-11-25"]) == 0
    assert "HTTP 500" not in capsys.readouterr().out
    assert main(["knowledge", "table", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]


def test_fixtures_load_needs_no_settings(production_defaults: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fixtures", "load", "--fhir-server", "http://127.0.0.1:9/fhir", "--fixtures", str(PATIENTS)]) == 1
    assert one_line(capsys.readouterr().err).startswith("cds-service: ")


def test_version_names_the_release_and_the_knowledge(capsys: pytest.CaptureFixture[str]) -> None:
    from cds_service import __version__
    from cds_service.knowledge import load_knowledge

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"cds-service {__version__} (knowledge {load_knowledge().info.version})\n"


COMMANDS_READING_THE_STORE = [["db", "current"], ["db", "upgrade"], ["db", "prune", "--older-than", "30"]]
COMMANDS_READING_THE_STORE += [["report", "concordance"], ["serve"]]


@pytest.mark.parametrize("command", COMMANDS_READING_THE_STORE, ids=" ".join)
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "CDS_DATABASE_URL: not a database URL: write sqlite:///"),
        ("mysql://cds:secret@db/cds", "CDS_DATABASE_URL: mysql:// is not supported: write sqlite:///"),
        ("postgresql+nodriver://cds:secret@db/cds", "CDS_DATABASE_URL: unknown driver 'postgresql+nodriver'"),
    ],
)
def test_a_bad_database_url_is_one_line_naming_the_setting_for_every_command(
    production_defaults: str,
    command: list[str],
    url: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", url)
    assert main(command) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"cds-service: invalid setting: {expected}"), line
    assert "secret" not in line  # a URL's password is never repeated


@pytest.mark.parametrize(
    "option", [["demo", "--fill-store"], ["report", "concordance", "--database-url"]], ids=" ".join
)
def test_a_bad_url_given_as_an_option_is_one_line_naming_the_option(
    production_defaults: str, option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*option, "nonsense", *(FILL if option[0] == "demo" else [])]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"cds-service: invalid setting: {option[-1]}: not a database URL: write "), line


def test_postgresql_without_its_driver_names_the_extra_to_install(
    production_defaults: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if `pip install '.[postgres]'` had not been run
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql+psycopg://cds@db.example.org/cds")
    assert main(["db", "current"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "cds-service: invalid setting: CDS_DATABASE_URL: PostgreSQL needs its driver: "
        "pip install 'cds-service[postgres]'"
    )


def test_a_postgres_url_as_hosting_platforms_write_it_is_postgresql(
    production_defaults: str,
    postgres_schema_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scheme, rest = postgres_schema_url.split("://", 1)
    assert scheme == "postgresql+psycopg"
    monkeypatch.setenv("CDS_DATABASE_URL", f"postgres://{rest}")
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    assert "(current)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command",
    [["serve"], ["demo", "--fixtures", str(REQUESTS)], ["demo", "--fill-store", "sqlite://", *FILL]],
    ids=["serve", "demo", "demo --fill-store"],
)
@pytest.mark.parametrize("name", ["CDS_CORS_ALLOWED_ORIGINS", "CDS_FHIR_ALLOWED_SERVERS", "CDS_AUTH_ALGORITHMS"])
def test_a_list_that_is_not_json_is_one_line_with_the_fix(
    production_defaults: str,
    command: list[str],
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, "https://ehr.example.org")
    assert main(command) == 2
    line = one_line(capsys.readouterr().err)
    expected = f"cds-service: invalid setting: {name} is not valid JSON: write a list as JSON, e.g. {name}="
    assert line.startswith(expected), line


def test_a_redis_url_that_is_not_redis_is_one_line(
    production_defaults: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_ENVIRONMENT", "development")
    monkeypatch.setenv("CDS_AUTH_DISABLED", "true")
    monkeypatch.setenv("CDS_REPLAY_CACHE", "redis")
    monkeypatch.setenv("CDS_REDIS_URL", "http://redis.example.org:6379")
    assert main(["serve"]) == 2
    assert "CDS_REDIS_URL must be a redis://" in one_line(capsys.readouterr().err)


def _production_serve(monkeypatch: pytest.MonkeyPatch, registry: Path) -> None:
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", "https://cds.hospital.example")
    monkeypatch.setenv("CDS_CLIENT_REGISTRY_PATH", str(registry))
    assert main(["db", "upgrade"]) == 0


@pytest.mark.parametrize(
    ("registry", "jwks", "expected"),
    [
        ("clients: []\n", None, "lists no client: add the EHRs that may call"),
        (
            "clients:\n  - iss: https://ehr.hospital.example\n    jwks_path: ehr.jwks.json\n",
            '{"keys": []}',
            "client https://ehr.hospital.example in {path} has an empty key set: add the EHR's public keys",
        ),
    ],
    ids=["no client", "empty key set"],
)
def test_production_refuses_a_registry_that_would_refuse_every_call(
    production_defaults: str,
    registry: str,
    jwks: str | None,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "clients.yaml"
    path.write_text(registry, encoding="utf-8")
    if jwks is not None:
        (tmp_path / "ehr.jwks.json").write_text(jwks, encoding="utf-8")
    _production_serve(monkeypatch, path)
    capsys.readouterr()
    assert main(["serve"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("cds-service: invalid setting: CDS_CLIENT_REGISTRY_PATH: "), line
    assert expected.format(path=path) in line


def test_production_refuses_template_placeholders(
    production_defaults: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", "https://cds.hospital.example")
    monkeypatch.setenv("CDS_CLIENT_REGISTRY_PATH", "config/clients.example.yaml")
    monkeypatch.setenv("CDS_REPLAY_CACHE", "redis")
    monkeypatch.setenv("CDS_REDIS_URL", "redis://:REPLACE-ME@redis:6379/0")
    monkeypatch.setenv("CDS_METRICS_ACCESS", "token")
    monkeypatch.setenv("CDS_OPERATOR_TOKEN", "REPLACE-ME-with-at-least-32-random-characters")
    assert main(["serve"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"cds-service: invalid setting: {name} still holds a template placeholder (REPLACE-ME): "
        "set the site's own value"
        for name in ("CDS_REDIS_URL", "CDS_OPERATOR_TOKEN")
    ]


def test_site_parameters_that_cannot_be_read_are_one_line_before_serving(
    production_defaults: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_ENVIRONMENT", "development")
    monkeypatch.setenv("CDS_AUTH_DISABLED", "true")
    monkeypatch.setenv("CDS_SITE_PARAMETERS_PATH", str(tmp_path / "missing.yaml"))
    assert main(["serve"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("cds-service: invalid setting: CDS_SITE_PARAMETERS_PATH: site parameters "), line
    assert "cannot be read" in line


def test_a_store_folder_that_cannot_be_made_is_one_line(
    production_defaults: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    monkeypatch.setenv("CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'a-file' / 'store.sqlite3'}")
    assert main(["db", "upgrade"]) == 2
    assert one_line(capsys.readouterr().err).startswith("cds-service: ")
