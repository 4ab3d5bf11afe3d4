"""`cds-service fixtures load`: every fixture patient into a FHIR server, with clear errors and a summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from cds_service.cli import main
from tests.conftest import PATIENTS

FHIR = "http://fhir.test/fhir"


def _transaction_response(request: httpx.Request, status: str = "201 Created") -> httpx.Response:
    entries = json.loads(request.content)["entry"]
    return httpx.Response(
        200,
        json={
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [{"response": {"status": status}} for _ in entries],
        },
    )


def test_every_patient_is_posted_as_a_transaction_and_summarised(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(FHIR).mock(side_effect=_transaction_response)
        assert main(["fixtures", "load", "--fhir-server", FHIR + "/"]) == 0
    files = sorted(PATIENTS.glob("*.json"))
    assert route.call_count == len(files)
    sent = json.loads(route.calls[0].request.content)
    assert sent["type"] == "transaction"
    assert route.calls[0].request.headers["content-type"] == "application/fhir+json"
    out = capsys.readouterr().out
    assert "loaded  Patient/hcc-intolerant from hcc-intolerant.json: 1 Condition," in out
    total = sum(len(json.loads(f.read_text())["entry"]) for f in files)
    assert f"{len(files)} of {len(files)} fixture patients loaded into {FHIR} ({total} resources)" in out


def test_a_refused_bundle_is_named_with_the_servers_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.json").write_text((PATIENTS / "hcc-intolerant.json").read_text())
    (tmp_path / "b.json").write_text((PATIENTS / "hcc-sorafenib.json").read_text())
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "diagnostics": "bad subject"}]}
    with respx.mock() as mock:
        answers: list[Any] = [httpx.Response(400, json=outcome), _transaction_response]
        mock.post(FHIR).mock(side_effect=answers)
        assert main(["fixtures", "load", "--fhir-server", FHIR, "--fixtures", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "FAILED  a.json: the FHIR server answered 400: bad subject" in captured.err
    assert "1 of 2 fixture patients loaded" in captured.out
    assert "; 1 failed" in captured.out


def test_entries_refused_inside_a_transaction_response_are_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.json").write_text((PATIENTS / "hcc-intolerant.json").read_text())
    with respx.mock() as mock:
        mock.post(FHIR).mock(side_effect=lambda request: _transaction_response(request, "422 Unprocessable"))
        assert main(["fixtures", "load", "--fhir-server", FHIR, "--fixtures", str(tmp_path)]) == 1
    assert "a.json: 7 entries were refused (status 422 Unprocessable" in capsys.readouterr().err


def test_a_file_that_is_not_a_transaction_bundle_is_refused_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.json").write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}')
    (tmp_path / "b.json").write_text("{not json")
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(FHIR)
        assert main(["fixtures", "load", "--fhir-server", FHIR, "--fixtures", str(tmp_path)]) == 1
    assert route.call_count == 0
    err = capsys.readouterr().err
    assert "a.json: not a FHIR transaction Bundle" in err
    assert "b.json: not a readable JSON file" in err


def test_an_unreachable_server_stops_at_once_with_its_address(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock() as mock:
        route = mock.post(FHIR).mock(side_effect=httpx.ConnectError("Connection refused"))
        assert main(["fixtures", "load", "--fhir-server", FHIR]) == 1
    assert route.call_count == 1
    assert f"cannot reach the FHIR server at {FHIR} (ConnectError: Connection refused)" in capsys.readouterr().err


@pytest.mark.parametrize("server", ["fhir.test/fhir", "ftp://fhir.test"])
def test_a_server_that_is_not_an_http_url_is_a_usage_error(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fixtures", "load", "--fhir-server", server]) == 2
    assert "--fhir-server must be an http(s) FHIR base URL" in capsys.readouterr().err


def test_a_server_answer_that_is_not_fhir_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.json").write_text((PATIENTS / "hcc-intolerant.json").read_text())
    with respx.mock() as mock:
        mock.post(FHIR).mock(return_value=httpx.Response(200, text="<html>welcome</html>"))
        assert main(["fixtures", "load", "--fhir-server", FHIR, "--fixtures", str(tmp_path)]) == 1
    assert f"a.json: the answer is not JSON; is {FHIR} a FHIR base URL?" in capsys.readouterr().err
