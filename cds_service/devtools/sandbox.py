"""A local CDS Hooks sandbox setup: a real FHIR server with the fixture patients, and the service to try.

``cds-service sandbox`` (or ``./scripts/sandbox``) starts sekmet-fhir (``pip install '.[sandbox]'``) on
loopback, loads every fixture patient, starts ``cds-service serve`` with authentication on and the
example registry (which trusts the CDS Hooks sandbox's published key; development only), and prints one
sandbox URL per fixture patient and hook. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

from cds_service.devtools import BUNDLE_TIMEOUT_SECONDS
from cds_service.devtools.fixture_loader import LoadedBundle, fixture_files, load_bundle
from cds_service.devtools.smart_ehr import SmartEhr

PUBLIC_SANDBOX = "https://sandbox.cds-hooks.org/"
SMART_CLIENT_ID = "hcc-timeline"  # the service's default CDS_SMART_CLIENT_ID
SANDBOX_HOOKS = ("order-select", "patient-view")
SANDBOX_SCREENS = {"patient-view": "patient-view", "order-select": "rx-view", "order-sign": "rx-sign"}


class SandboxError(Exception):
    """A part of the local setup did not start; the message says which and why."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, *, seconds: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; fail with the end of the process log if it exits or times out."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""
            raise SandboxError(f"{url} did not come up:\n{tail}")
        time.sleep(0.3)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.contextmanager
def fhir_server(folder: Path, port: int) -> Iterator[str]:
    """A sekmet-fhir R4 server on ``127.0.0.1:port`` (open, CORS for any origin), storing in ``folder``."""
    executable = shutil.which("sekmet", path=str(Path(sys.executable).parent)) or shutil.which("sekmet")
    if executable is None:
        raise SandboxError("sekmet-fhir is not installed: pip install -e '.[sandbox]'")
    folder = folder.resolve()  # the server runs in this folder: relative paths would resolve twice
    folder.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{port}/fhir"
    (folder / "settings.yaml").write_text(
        f"base_url: {base}\nhost: 127.0.0.1\nport: {port}\nsimulator: {{enabled: false}}\n"
        "validation: {inbound: warn}\nlog_inbound: false\n",
        encoding="utf-8",
    )
    env = {**os.environ, "SEKMET_CONFIG": str(folder / "settings.yaml"), "SEKMET_DB": str(folder / "fhir.db")}
    log_path = folder / "fhir-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - a fixed executable and arguments
            [executable, "serve"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(f"{base}/metadata", process, log_path)
            yield base
        finally:
            _stop(process)


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    port: int
    fhir_base: str
    registry: Path
    database_url: str
    cors_origins: tuple[str, ...]
    auth_disabled: bool = False


def service_environment(options: ServiceOptions) -> dict[str, str]:
    """The service's settings for the sandbox: the public base URL is left to follow the served port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(
        {
            "CDS_ENVIRONMENT": "development",  # loopback http everywhere: a development setup, said explicitly
            "CDS_AUTH_DISABLED": "true" if options.auth_disabled else "false",
            "CDS_CLIENT_REGISTRY_PATH": str(options.registry),
            "CDS_DATABASE_URL": options.database_url,
            "CDS_FHIR_ALLOWED_SERVERS": json.dumps([options.fhir_base]),
            "CDS_FHIR_ALLOW_HTTP": "true",
            "CDS_CORS_ALLOWED_ORIGINS": json.dumps(list(options.cors_origins)),
        }
    )
    return env


@contextlib.contextmanager
def cds_service(options: ServiceOptions, log_path: Path) -> Iterator[str]:
    """``cds-service serve --port`` in a child process (as a user runs it); yields its discovery URL."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - this interpreter running this package
            [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", str(options.port)],
            env=service_environment(options),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{options.port}/healthz", process, log_path)
            yield f"http://127.0.0.1:{options.port}/cds-services"
        finally:
            _stop(process)


def sandbox_url(sandbox: str, *, fhir_base: str, patient_id: str, discovery_url: str, hook: str) -> str:
    """The sandbox page for one patient and hook (its documented query parameters)."""
    query = urlencode(
        {
            "fhirServiceUrl": fhir_base,
            "patientId": patient_id,
            "serviceDiscoveryURL": discovery_url,
            "hook": hook,
            "screen": SANDBOX_SCREENS[hook],
        }
    )
    return f"{sandbox.rstrip('/')}/?{query}"


def cases_by_patient(requests: Path) -> dict[str, list[str]]:
    """The fixture hook requests (by file name) for each patient id, to say what each patient shows."""
    cases: dict[str, list[str]] = {}
    for path in sorted(requests.glob("*.json")):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            patient = json.loads(path.read_text(encoding="utf-8")).get("context", {}).get("patientId")
            if isinstance(patient, str):
                cases.setdefault(patient, []).append(path.stem)
    return cases


def load_patients(fhir_base: str, patients: Path) -> list[LoadedBundle]:
    with httpx.Client(timeout=BUNDLE_TIMEOUT_SECONDS, follow_redirects=False) as client:
        return [load_bundle(client, fhir_base, path) for path in fixture_files(patients)]


def describe(
    loaded: list[LoadedBundle], cases: dict[str, list[str]], *, sandbox: str, fhir_base: str, discovery_url: str
) -> list[str]:
    """What the command prints: per fixture patient, its cases and one sandbox URL per hook."""
    lines = []
    for bundle in loaded:
        if bundle.patient_id is None:
            continue
        shown = ", ".join(cases.get(bundle.patient_id, [])) or "no hook request fixture"
        lines.append(f"\nPatient/{bundle.patient_id} ({shown})")
        for hook in SANDBOX_HOOKS:
            url = sandbox_url(
                sandbox, fhir_base=fhir_base, patient_id=bundle.patient_id, discovery_url=discovery_url, hook=hook
            )
            lines.append(f"  {hook:<13} {url}")
    return lines


@contextlib.contextmanager
def static_site(folder: Path, port: int) -> Iterator[str]:
    """Serve a built sandbox (static files) on ``127.0.0.1:port`` in a thread; yields its URL."""
    import functools
    import http.server
    import threading

    if not (folder / "index.html").is_file():
        raise SandboxError(f"{folder} has no index.html: point --sandbox-app at the sandbox's built app/ folder")

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True, slots=True)
class LocalSandbox:
    """What is running: the FHIR server, the service, the sandbox page, and the patients loaded."""

    fhir_base: str
    discovery_url: str
    sandbox: str
    database_url: str
    service_log: Path
    loaded: tuple[LoadedBundle, ...]
    ehr: SmartEhr | None = None  # the SMART authorization server in front of the FHIR server


@contextlib.contextmanager
def local_sandbox(
    *,
    port: int,
    fhir_port: int,
    data: Path,
    registry: Path,
    patients: Path,
    sandbox: str = PUBLIC_SANDBOX,
    sandbox_app: Path | None = None,
    auth_disabled: bool = False,
    smart: bool = True,
) -> Iterator[LocalSandbox]:
    """Start the FHIR server (fixtures loaded), the service and optionally a built sandbox; stop them after.

    With ``smart`` the FHIR base the sandbox and the service use is a ``SmartEhr`` in front of the FHIR server
    on ``fhir_port``: it answers the sandbox's SMART launch, so a card's "Open timeline" link opens the app."""
    data.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if sandbox_app is not None:
            sandbox = stack.enter_context(static_site(sandbox_app, free_port()))
        origin = "/".join(sandbox.split("/", 3)[:3])
        upstream = stack.enter_context(fhir_server(data / "fhir", free_port() if smart else fhir_port))
        loaded = load_patients(upstream, patients)
        ehr: SmartEhr | None = None
        fhir_base = upstream
        if smart:
            ehr = stack.enter_context(
                SmartEhr(
                    upstream,
                    client_id=SMART_CLIENT_ID,
                    redirect_uri=f"http://127.0.0.1:{port}/app/",
                    open_without_token=True,  # the sandbox reads its FHIR server without a token
                    port=fhir_port,
                )
            )
            fhir_base = ehr.fhir_base
        options = ServiceOptions(
            port=port,
            fhir_base=fhir_base,
            registry=registry.resolve(),
            database_url=f"sqlite:///{(data / 'feedback.sqlite3').resolve()}",
            cors_origins=tuple(dict.fromkeys((origin, PUBLIC_SANDBOX.rstrip("/")))),
            auth_disabled=auth_disabled,
        )
        log = data / "cds-service.log"
        discovery = stack.enter_context(cds_service(options, log))
        yield LocalSandbox(fhir_base, discovery, sandbox, options.database_url, log, tuple(loaded), ehr)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run(
    *,
    port: int,
    fhir_port: int,
    data: Path,
    registry: Path,
    patients: Path,
    requests: Path,
    sandbox: str,
    sandbox_app: Path | None,
) -> int:
    """``cds-service sandbox``: start everything, print the sandbox URLs, run until interrupted (Ctrl-C)."""
    signal.signal(signal.SIGTERM, _exit_on_signal)  # stop the child servers on `kill` too, not only Ctrl-C
    with local_sandbox(
        port=port,
        fhir_port=fhir_port,
        data=data,
        registry=registry,
        patients=patients,
        sandbox=sandbox,
        sandbox_app=sandbox_app,
    ) as running:
        out = sys.stdout
        out.write(f"FHIR server:    {running.fhir_base} ({len(running.loaded)} fixture patients loaded)\n")
        if running.ehr is not None:
            out.write(f'SMART EHR:      {running.ehr.base}/auth (a card\'s "Open timeline" launches the app)\n')
        out.write(f"CDS service:    {running.discovery_url} (authentication on: {registry})\n")
        out.write(f"Service log:    {running.service_log}\n")
        out.write(f"Feedback store: {running.database_url}\n")
        out.write("\nOpen a URL below in a browser. Rx View (order-select): type a drug into the medication box.\n")
        lines = describe(
            list(running.loaded),
            cases_by_patient(requests),
            sandbox=running.sandbox,
            fhir_base=running.fhir_base,
            discovery_url=running.discovery_url,
        )
        out.write("\n".join(lines) + "\n\nCtrl-C stops everything.\n")
        out.flush()
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0
