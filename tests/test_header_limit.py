"""Request headers are bounded in every install (issue 25, finding 8): `cds-service serve` runs h11 with
``CDS_MAX_HEADER_BYTES`` even where httptools is installed (which reads headers of any size), so a
200 KiB header is refused before it is held, and the service goes on answering."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.service_process import ServiceProcess, run_cli


def test_an_oversized_header_is_refused_and_the_service_goes_on(tmp_path: Path) -> None:
    env = {
        "CDS_ENVIRONMENT": "development",
        "CDS_AUTH_DISABLED": "true",
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite3'}",
        "CDS_MAX_HEADER_BYTES": "16384",
    }
    assert run_cli(env, "db", "upgrade").returncode == 0
    service = ServiceProcess("header-limit", env, tmp_path)
    service.start()
    try:
        try:
            status: int | None = httpx.get(
                f"{service.url}/healthz", headers={"X-Padding": "x" * 200 * 1024}, timeout=10
            ).status_code
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            status = None  # refused by closing the connection while the header was still coming
        assert status in (None, 400, 431)
        assert httpx.get(f"{service.url}/healthz", headers={"X-Padding": "x" * 8 * 1024}, timeout=10).status_code == 200
    finally:
        service.stop()
