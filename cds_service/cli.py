"""Command line: ``cds-service serve | demo | fixtures load | sandbox | knowledge table | db upgrade | db current |
db prune | report concordance``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cds_service.devtools import BUNDLE_TIMEOUT_SECONDS

T = TypeVar("T")


class ConfigurationError(Exception):
    """Settings (or options) that cannot be used: one line each, naming the setting and the fix; exit status 2."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def settings_problems(error: Any) -> list[str]:
    """One line per invalid setting (a settings ``ValidationError`` may carry several lines per error)."""
    lines: list[str] = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        where = f"CDS_{str(item['loc'][0]).upper()}: " if item.get("loc") else ""
        lines += [where + line for line in message.splitlines()]
    return lines


def read_settings(factory: Callable[[], T]) -> T:
    """The settings ``factory`` builds from the environment; any mistake is a ConfigurationError (one line each).

    The one way every command reads its settings: a value that is not valid JSON where a list is expected,
    an unusable database URL, an insecure production setting all end the same way, without a traceback.
    """
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    try:
        return factory()
    except ValidationError as exc:
        raise ConfigurationError(settings_problems(exc)) from None
    except SettingsError as exc:
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"CDS_{field.group(1).upper()}" if field else "a CDS_ setting"
        raise ConfigurationError(
            [f"{name} is not valid JSON: write a list as JSON, e.g. {name}='[\"https://ehr.example.org\"]' (or '[]')"]
        ) from None


def checked_database_url(url: str, option: str) -> str:
    """A database URL given on the command line, checked like CDS_DATABASE_URL (``postgres://`` accepted)."""
    from cds_service.config import normalized_database_url

    try:
        return normalized_database_url(url)
    except ValueError as exc:
        raise ConfigurationError([f"{option}: {exc}"]) from None


def _serve(args: argparse.Namespace) -> int:
    # --host/--port become the settings every worker reads, so an unset CDS_PUBLIC_BASE_URL follows them;
    # the environment is put back afterwards (``main`` may be called in-process, by tests).
    served = {"CDS_HOST": args.host, "CDS_PORT": str(args.port) if args.port else None}
    previous = {name: os.environ.get(name) for name in served}
    os.environ.update({name: value for name, value in served.items() if value})
    try:
        return _serve_on(args)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _serve_on(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from cds_service.api.logs import configure_logging, uvicorn_log_config
    from cds_service.config import get_settings
    from cds_service.security.registry import RegistryError, load_registry

    settings = read_settings(get_settings)
    knowledge_problem = _knowledge_problem(settings.site_parameters_path)
    if knowledge_problem:
        raise ConfigurationError([knowledge_problem])
    if args.workers > 1:
        _prepare_multiprocess_metrics()
    schema_problem = _schema_problem(settings.database_url, settings.environment)
    if schema_problem:
        sys.stderr.write(f"cds-service: {schema_problem}\n")
        return 2
    if settings.client_registry_path and not settings.auth_disabled:
        try:
            registry, local_keys = load_registry(settings.client_registry_path, environment=settings.environment)
        except RegistryError as exc:
            sys.stderr.write(f"cds-service: {exc}\n")
            return 2
        if settings.environment == "production":
            problems = registry_problems(settings.client_registry_path, registry.clients, local_keys)
            if problems:
                raise ConfigurationError(problems)
    configure_logging(settings.log_level)
    logging.getLogger("cds_service.cli").info(
        "starting", extra={"public_base_url": settings.public_base_url, "environment": settings.environment}
    )
    uvicorn.run(
        "cds_service.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        proxy_headers=True,
        access_log=False,  # the service writes its own access line, with the request id (api/access_log.py)
        log_config=uvicorn_log_config(settings.log_level),
        # h11 in every install (httptools, when installed, reads headers of any size): request line and
        # headers over CDS_MAX_HEADER_BYTES are refused before they are held in memory.
        http="h11",
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )
    return 0


def _knowledge_problem(site_parameters: Path | None) -> str | None:
    """Why the knowledge (with the site's parameters) would not load in the server, in one line, or None."""
    from cds_service.knowledge import KnowledgeError, load_knowledge

    try:
        load_knowledge(site_parameters)
    except KnowledgeError as exc:
        where = "CDS_SITE_PARAMETERS_PATH: " if site_parameters is not None else ""
        return where + " ".join(str(exc).split())
    return None


def registry_problems(path: str, clients: Sequence[Any], local_keys: dict[str, dict[str, Any]]) -> list[str]:
    """Why a registry would make every call a 401 in production (no client, a client with no keys), one line each."""
    if not clients:
        return [f"CDS_CLIENT_REGISTRY_PATH: the client registry {path} lists no client: add the EHRs that may call"]
    return [
        f"CDS_CLIENT_REGISTRY_PATH: client {client.iss} in {path} has an empty key set: add the EHR's public keys"
        for client in clients
        if client.iss in local_keys and not local_keys[client.iss].get("keys")
    ]


def _prepare_multiprocess_metrics() -> None:
    """Several workers share one ``/metrics``: prometheus_client's multiprocess mode, in an emptied folder."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cds-service-metrics-")
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for stale in Path(folder).glob("*.db"):  # values of a previous run would be added to this one's
        stale.unlink()


def _schema_problem(database_url: str, environment: str) -> str | None:
    """Why the service cannot start on this database (one line), or None; see cds_service.store.migrate."""
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.store.feedback import FeedbackStore
    from cds_service.store.migrate import SchemaBehindError, require_current_schema, upgrades_at_start

    store = FeedbackStore(database_url)
    try:
        require_current_schema(store.engine, upgrade_if_behind=upgrades_at_start(store.engine, environment))
    except SchemaBehindError as exc:
        return str(exc)
    except SQLAlchemyError as exc:
        return f"the database cannot be used: {_first_line(exc)}"
    finally:
        store.close()
    return None


def _first_line(exc: Exception) -> str:
    """The driver's own message without SQLAlchemy's SQL echo and links (never the URL's password)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


def _db(args: argparse.Namespace) -> int:
    """``db upgrade`` applies the migrations; ``db current`` says where the database stands (1: behind);
    ``db prune`` deletes what is older than the retention period."""
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.config import StoreSettings
    from cds_service.store.feedback import FeedbackStore
    from cds_service.store.migrate import schema_state, upgrade

    # Only the store settings: the checks that guard a running server (registry, https) do not apply to a
    # command that serves nothing, so a migration Job needs no client registry.
    database_url = read_settings(StoreSettings).database_url
    if args.db_command == "prune":
        return _db_prune(args, database_url)
    store = FeedbackStore(database_url)
    try:
        before = schema_state(store.engine)
        if args.db_command == "current":
            verdict = "behind: run `cds-service db upgrade`" if before.behind else "current"
            sys.stdout.write(f"database schema {before.describe()} ({verdict})\n")
            return 1 if before.behind else 0
        after = upgrade(store.engine, args.revision)
    except SQLAlchemyError as exc:
        sys.stderr.write(f"cds-service: the database cannot be used: {_first_line(exc)}\n")
        return 2
    finally:
        store.close()
    if before.current == after.current:
        sys.stdout.write(f"database schema already at revision {after.current}: nothing to do\n")
    else:
        sys.stdout.write(f"database schema upgraded from revision {before.current or 'none'} to {after.current}\n")
    return 0


def _db_prune(args: argparse.Namespace, database_url: str) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.cli_pilot import prune_pilot_records
    from cds_service.store.feedback import FeedbackStore
    from cds_service.store.migrate import SchemaBehindError, require_current_schema
    from cds_service.store.retention import prune

    if args.older_than < 1:
        raise ConfigurationError(["--older-than: give a number of days, 1 or more"])
    store = FeedbackStore(database_url)
    try:
        require_current_schema(store.engine, upgrade_if_behind=False)
        result = prune(store.engine, timedelta(days=args.older_than), now=datetime.now(UTC), dry_run=args.dry_run)
        pilot_days, pilot = prune_pilot_records(store.engine, dry_run=args.dry_run)
    except SchemaBehindError as exc:
        sys.stderr.write(f"cds-service: {exc}\n")
        return 2
    except SQLAlchemyError as exc:
        sys.stderr.write(f"cds-service: the database cannot be used: {_first_line(exc)}\n")
        return 2
    finally:
        store.close()
    verb = "would delete" if args.dry_run else "deleted"
    counts = ", ".join(f"{count} {what}" for what, count in result.deleted.items())
    sys.stdout.write(f"{verb} {counts} older than {args.older_than} days (before {result.cutoff:%Y-%m-%d %H:%M} UTC)\n")
    pilot_counts = ", ".join(f"{count} {what}" for what, count in pilot.deleted.items())
    sys.stdout.write(f"{verb} {pilot_counts} older than {pilot_days} days (the site's pilot retention)\n")
    return 0


def _print_cards(name: str, status: int, body: dict[str, Any], out: Any) -> None:
    out.write(f"\n=== {name} -> HTTP {status}\n")
    if status != 200:
        issues = body.get("issue", [{}])
        out.write(f"    {issues[0].get('diagnostics', body)}\n")
        return
    cards = body.get("cards", [])
    if not cards:
        out.write("    (no cards)\n")
    for card in cards:
        out.write(f"\n  [{card['indicator'].upper()}] {card['summary']}\n")
        out.write(f"    source: {card['source']['label']}\n")
        for line in card.get("detail", "").splitlines():
            out.write(f"    {line}\n")
        for suggestion in card.get("suggestions", []):
            star = " (recommended)" if suggestion.get("isRecommended") else ""
            out.write(f"    -> suggestion: {suggestion['label']}{star}\n")
            for action in suggestion.get("actions", []):
                out.write(f"         {action['type']}: {action['description']}\n")
        for reason in card.get("overrideReasons", []):
            out.write(f"    override reason: {reason['display']}\n")
        for link in card.get("links", []):
            out.write(f"    link: {link['label']} <{link['url']}>\n")


def _demo(args: argparse.Namespace) -> int:
    import asyncio

    if args.fill_store:
        return _demo_fill_store(args)
    folder = Path(args.fixtures)
    files = sorted(folder.glob("*.json"))
    if not files:
        sys.stderr.write(f"no hook requests in {folder}\n")
        return 1
    as_of = date.fromisoformat(args.as_of) if args.as_of else date.today()
    sys.stdout.write(f"Rules evaluated as of {as_of.isoformat()}\n")
    for name, status, body in asyncio.run(_post_fixtures(files, as_of)):
        _print_cards(name, status, body, sys.stdout)
    return 0


async def _post_fixtures(files: list[Path], as_of: date) -> list[tuple[str, int, dict[str, Any]]]:
    """Send each hook request to the service in-process (the app's lifespan runs as in production)."""
    import httpx

    from cds_service.api.app import create_app
    from cds_service.hooks.services import ORDER_SELECT_ID
    from cds_service.hooks.services import SERVICE_ID_BY_HOOK as service_by_hook

    settings = _in_process_settings()
    app = create_app(settings, clock=lambda: as_of)
    results = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo") as client,
    ):
        for path in files:
            request = json.loads(path.read_text(encoding="utf-8"))
            service = service_by_hook.get(request.get("hook"), ORDER_SELECT_ID)
            response = await client.post(f"/cds-services/{service}", json=request)
            results.append((f"{path.name} ({request.get('hook')})", response.status_code, response.json()))
    return results


def _in_process_settings() -> Any:
    """Settings for the demo's in-process service: nothing is served, so no registry or public URL is needed
    (the environment still gives the rest, e.g. CDS_SITE_PARAMETERS_PATH; a mistake there is one line)."""
    from cds_service.config import Settings

    return read_settings(
        lambda: Settings(
            environment="development", database_url="sqlite:///:memory:", log_level="ERROR", auth_disabled=True
        )
    )


def _previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def _demo_fill_store(args: argparse.Namespace) -> int:
    """Fill an empty scratch store with a month of synthetic traffic drawn from the fixture requests."""
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.devtools.synthetic_traffic import migrate_scratch_store, store_is_empty, synthetic_rows, write_rows
    from cds_service.store.feedback import FeedbackStore

    try:
        month = datetime.strptime(args.month, "%Y-%m").date() if args.month else _previous_month(date.today())
    except ValueError:
        sys.stderr.write(f"cds-service: --month must be YYYY-MM, not {args.month!r}\n")
        return 2
    files = sorted(Path(args.fixtures).glob("*.json"))
    if not files:
        sys.stderr.write(f"no hook requests in {args.fixtures}\n")
        return 1
    if args.months < 1:
        sys.stderr.write("cds-service: --months must be 1 or more\n")
        return 2
    database_url = checked_database_url(args.fill_store, "--fill-store")
    months = [month]
    for _ in range(args.months - 1):
        months.append((months[-1] + timedelta(days=32)).replace(day=1))
    after = (months[-1] + timedelta(days=32)).replace(day=1)
    as_of = date.fromisoformat(args.as_of) if args.as_of else after - timedelta(days=1)
    store = FeedbackStore(database_url)
    try:
        migrate_scratch_store(store.engine)
        if not store_is_empty(store.engine):
            sys.stderr.write("cds-service: that store already holds cards or feedback; fill an empty scratch store\n")
            return 2
        calls = asyncio.run(_fixture_call_templates(files, as_of))
        cards, feedback = write_rows(store.engine, synthetic_rows(calls, months, seed=args.seed))
    except SQLAlchemyError as exc:
        sys.stderr.write(f"cds-service: the database cannot be used: {_first_line(exc)}\n")
        return 2
    finally:
        store.close()
    sys.stdout.write(
        f"Stored {cards} synthetic cards and {feedback} feedback reports for {len(months)} month(s) from {month:%Y-%m} "
        f"(weekday hook calls drawn from {len(calls)} fixture requests, seed {args.seed}).\n"
    )
    return 0


async def _fixture_call_templates(files: list[Path], as_of: date) -> list[Any]:
    """What the service answers to each fixture request (run in-process), as templates of hook calls."""
    from cds_service.devtools.synthetic_traffic import CallTemplate, CardTemplate
    from cds_service.hooks.models import HookRequest
    from cds_service.hooks.pipeline import HookPipeline
    from cds_service.hooks.services import ServiceDefinition, service_definitions
    from cds_service.knowledge import load_knowledge

    knowledge = load_knowledge()
    settings = _in_process_settings()
    pipeline = HookPipeline(knowledge, settings, clock=lambda: as_of)
    by_hook: dict[str, ServiceDefinition] = {s.hook: s for s in service_definitions(knowledge).values()}
    weight = {"order-select": 3.0, "order-sign": 1.0, "patient-view": 1.0}
    calls = []
    for path in files:
        request = HookRequest.model_validate(json.loads(path.read_text(encoding="utf-8")))
        service = by_hook.get(request.hook)
        if service is None:
            continue
        try:
            outcome = await pipeline.run(service, request)
        except Exception:  # noqa: S112 - a fixture the service refuses (e.g. 412) simply adds no traffic
            continue
        cards = tuple(
            CardTemplate(
                service_id=service.id,
                kind=issued.kind,
                indicator=issued.card.indicator,
                setting=outcome.setting,
                selected=outcome.selected,
                suggestion_meanings=tuple(issued.suggestions.values()),
                knowledge_version=outcome.knowledge_version,
                gates=issued.gates,
            )
            for issued in outcome.issued
        )
        if cards:
            calls.append(CallTemplate(path.stem, cards, weight.get(service.hook, 1.0)))
    return calls


def _report_labels() -> Any:
    """Display names for the report: settings, regimens and safety gates from the knowledge base, override reasons."""
    from cds_service.cards.override_reasons import override_reason_labels
    from cds_service.knowledge import load_knowledge
    from cds_service.report.concordance import Labels

    knowledge = load_knowledge()
    return Labels(
        settings={str(setting): rules.phrase for setting, rules in knowledge.sequencing.settings.items()},
        regimens={regimen_id: regimen.label for regimen_id, regimen in knowledge.regimens.items()},
        override_reasons=override_reason_labels(),
        gates={gate_id: gate.title for gate_id, gate in knowledge.gates.items()},
    )


def _with_pilot(report: dict[str, Any], engine: Any, period: Any) -> dict[str, Any]:
    """The report with its pilot section (pharmacist verdicts, knowledge releases and their sign-off)."""
    from cds_service.knowledge.releases import package_folder, read_lock
    from cds_service.report.pilot import add_pilot_section

    return add_pilot_section(report, engine, period, _report_labels(), read_lock(package_folder()).releases)


def _warm_charts() -> None:
    from cds_service.report.charts import ChartsUnavailable, require_matplotlib

    with contextlib.suppress(ChartsUnavailable):
        require_matplotlib()
        import matplotlib.figure  # noqa: F401


def _report_concordance(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.config import StoreSettings
    from cds_service.report.charts import ChartsUnavailable
    from cds_service.report.concordance import Period, build_report
    from cds_service.report.render import render
    from cds_service.store.feedback import FeedbackStore
    from cds_service.store.migrate import SchemaBehindError, require_current_schema

    if args.since and args.until and args.since > args.until:
        sys.stderr.write("cds-service: --since is after --until\n")
        return 2
    if args.database_url:
        url = checked_database_url(args.database_url, "--database-url")
    else:
        url = read_settings(StoreSettings).database_url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///")).expanduser()
        if not path.exists():
            sys.stderr.write(f"cds-service: no store at {path} (set CDS_DATABASE_URL or --database-url)\n")
            return 2
    if args.format == "html":  # import matplotlib while the database works
        threading.Thread(target=_warm_charts, daemon=True).start()
    store = FeedbackStore(url)
    try:
        require_current_schema(store.engine, upgrade_if_behind=False)
        report = build_report(
            store.engine, Period(args.since, args.until), _report_labels(), generated_at=datetime.now(UTC)
        )
        report = _with_pilot(report, store.engine, Period(args.since, args.until))
        text = render(report, args.format)
    except (ChartsUnavailable, SchemaBehindError) as exc:
        sys.stderr.write(f"cds-service: {exc}\n")
        return 2
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        first_line = (str(cause).strip().splitlines() or [""])[0]
        sys.stderr.write(f"cds-service: the store cannot be read: {type(cause).__name__}: {first_line}\n")
        return 2
    finally:
        store.close()
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        sys.stderr.write(f"cds-service: cannot write {args.output}: {exc.strerror}\n")
        return 2
    return 0


def _knowledge_table(args: argparse.Namespace) -> int:
    from cds_service.knowledge import load_knowledge
    from cds_service.sequencing.table import decision_table, decision_table_markdown

    knowledge = load_knowledge()
    if args.format == "json":
        sys.stdout.write(json.dumps(decision_table(knowledge), indent=2) + "\n")
    else:
        sys.stdout.write(decision_table_markdown(knowledge))
    return 0


def _fixtures_load(args: argparse.Namespace) -> int:
    import httpx

    from cds_service.devtools.fixture_loader import FhirServerUnreachable, FixtureLoadError, fixture_files, load_bundle

    server = args.fhir_server.rstrip("/")
    if not server.startswith(("http://", "https://")):
        sys.stderr.write(f"cds-service: --fhir-server must be an http(s) FHIR base URL, not {server!r}\n")
        return 2
    try:
        files = fixture_files(Path(args.fixtures))
    except FixtureLoadError as exc:
        sys.stderr.write(f"cds-service: {exc}\n")
        return 2
    loaded, failed = [], 0
    with httpx.Client(timeout=args.timeout, follow_redirects=False) as client:
        for path in files:
            try:
                result = load_bundle(client, server, path)
            except FhirServerUnreachable as exc:
                sys.stderr.write(f"cds-service: {exc}\n")
                return 1
            except FixtureLoadError as exc:
                failed += 1
                sys.stderr.write(f"FAILED  {exc}\n")
                continue
            loaded.append(result)
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(result.resources.items()))
            sys.stdout.write(f"loaded  Patient/{result.patient_id or '?'} from {result.file}: {counts}\n")
    total = sum(sum(r.resources.values()) for r in loaded)
    sys.stdout.write(
        f"{len(loaded)} of {len(files)} fixture patients loaded into {server} ({total} resources)"
        + (f"; {failed} failed\n" if failed else "\n")
    )
    return 1 if failed else 0


def _sandbox(args: argparse.Namespace) -> int:
    from cds_service.devtools.fixture_loader import FixtureLoadError
    from cds_service.devtools.sandbox import SandboxError, run

    try:
        return run(
            port=args.port,
            fhir_port=args.fhir_port,
            data=Path(args.data),
            registry=Path(args.registry),
            patients=Path(args.fixtures),
            requests=Path(args.requests),
            sandbox=args.sandbox_url,
            sandbox_app=Path(args.sandbox_app) if args.sandbox_app else None,
        )
    except (SandboxError, FixtureLoadError) as exc:
        sys.stderr.write(f"cds-service sandbox: {exc}\n")
        return 1


def build_parser() -> argparse.ArgumentParser:
    from cds_service.cli_pilot import add_knowledge_commands, add_review_commands

    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__)
    parser.add_argument("--version", action="version", version=_version_line())
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the CDS Hooks service with uvicorn")
    serve.add_argument("--host", help="address to bind (default: CDS_HOST)")
    serve.add_argument("--port", type=int, help="port (default: CDS_PORT)")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.set_defaults(handler=_serve)
    demo = commands.add_parser("demo", help="send every fixture hook request to the service and print the cards")
    demo.add_argument("--fixtures", default="fixtures/fhir/requests", help="folder of hook request JSON files")
    demo.add_argument("--as-of", help="evaluate the rules as of this date (YYYY-MM-DD; default today)")
    demo.add_argument(
        "--fill-store",
        metavar="DATABASE_URL",
        help="instead of printing cards, fill this empty scratch store with a month of synthetic traffic",
    )
    demo.add_argument("--month", help="with --fill-store: the (first) month to fill (YYYY-MM; default last month)")
    demo.add_argument("--months", type=int, default=1, help="with --fill-store: how many months to fill")
    demo.add_argument("--seed", type=int, default=2026, help="with --fill-store: random seed (same seed, same data)")
    demo.set_defaults(handler=_demo)
    fixtures = commands.add_parser("fixtures", help="work with the fixture patients")
    fixtures_commands = fixtures.add_subparsers(dest="fixtures_command", required=True)
    load = fixtures_commands.add_parser("load", help="load every fixture patient into a FHIR server (transactions)")
    load.add_argument("--fhir-server", required=True, help="FHIR R4 base URL, e.g. http://127.0.0.1:8090/fhir")
    load.add_argument("--fixtures", default="fixtures/fhir/patients", help="folder of transaction bundles")
    load.add_argument("--timeout", type=float, default=BUNDLE_TIMEOUT_SECONDS, help="seconds to wait for each bundle")
    load.set_defaults(handler=_fixtures_load)
    sandbox = commands.add_parser(
        "sandbox", help="a local FHIR server with the fixtures and the service, ready for the CDS Hooks sandbox"
    )
    sandbox.add_argument("--port", type=int, default=8000, help="port of the CDS service (default 8000)")
    sandbox.add_argument("--fhir-port", type=int, default=8090, help="port of the local FHIR server (default 8090)")
    sandbox.add_argument("--data", default="var/sandbox", help="folder for the FHIR database, feedback and logs")
    sandbox.add_argument("--registry", default="config/clients.example.yaml", help="trusted-client registry")
    sandbox.add_argument("--fixtures", default="fixtures/fhir/patients", help="folder of patient bundles")
    sandbox.add_argument("--requests", default="fixtures/fhir/requests", help="folder of hook request fixtures")
    sandbox.add_argument("--sandbox-url", default="https://sandbox.cds-hooks.org/", help="the sandbox to open")
    sandbox.add_argument("--sandbox-app", help="serve this built sandbox (its app/ folder) on loopback instead")
    sandbox.set_defaults(handler=_sandbox)
    knowledge = commands.add_parser("knowledge", help="inspect the clinical knowledge base")
    knowledge_commands = knowledge.add_subparsers(dest="knowledge_command", required=True)
    table = knowledge_commands.add_parser("table", help="print the decision table (setting x regimen)")
    table.add_argument("--format", choices=["markdown", "json"], default="markdown")
    table.set_defaults(handler=_knowledge_table)
    add_knowledge_commands(knowledge_commands)
    db = commands.add_parser("db", help="the feedback store's schema (CDS_DATABASE_URL)")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_upgrade = db_commands.add_parser("upgrade", help="apply the schema migrations (safe to repeat)")
    db_upgrade.add_argument("--revision", default="head", help="target revision (default: the latest)")
    db_upgrade.set_defaults(handler=_db)
    db_current = db_commands.add_parser("current", help="print the schema revision; exit 1 when behind")
    db_current.set_defaults(handler=_db)
    db_prune = db_commands.add_parser(
        "prune", help="delete issued cards and feedback older than a number of days (the site's retention)"
    )
    db_prune.add_argument("--older-than", type=int, required=True, metavar="DAYS", help="retention period in days")
    db_prune.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    db_prune.set_defaults(handler=_db)
    report = commands.add_parser("report", help="reports read from the feedback store")
    report_commands = report.add_subparsers(dest="report_command", required=True)
    concordance = report_commands.add_parser(
        "concordance", help="what clinicians did with the advice: cards, acceptance, overrides, orders"
    )
    concordance.add_argument("--since", type=date.fromisoformat, help="first day (YYYY-MM-DD, UTC) of cards issued")
    concordance.add_argument("--until", type=date.fromisoformat, help="last day (YYYY-MM-DD, UTC), included")
    concordance.add_argument("--format", choices=["html", "json", "csv"], default="html")
    concordance.add_argument("--output", help="write to this file (default: standard output)")
    concordance.add_argument("--database-url", help="SQLAlchemy URL of the store (default: CDS_DATABASE_URL)")
    concordance.set_defaults(handler=_report_concordance)
    add_review_commands(commands)
    return parser


def _version_line() -> str:
    from importlib.resources import files

    import yaml

    from cds_service import __version__

    info = yaml.safe_load((files("cds_service.knowledge") / "knowledge.yaml").read_text(encoding="utf-8"))
    return f"cds-service {__version__} (knowledge {info['version']})"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except ConfigurationError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"cds-service: invalid setting: {problem}\n")
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except OSError as exc:  # a file or folder that cannot be read or written (a store's folder, an output)
        sys.stderr.write(f"cds-service: {exc.strerror or exc}: {exc.filename or ''}\n")
        return 2
    return result
