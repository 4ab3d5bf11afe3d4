"""Commands of a pilot and of knowledge releases: ``knowledge lock | diff | impact`` and ``review key | export |
prune`` (registered on the main parser by ``cds_service.cli``)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from cds_service.config import StoreSettings

EXPORT_COLUMNS = (
    "card_uuid",
    "reviewed_at",
    "reviewer",
    "verdict",
    "reason_code",
    "note",
    "service_id",
    "kind",
    "indicator",
    "setting",
    "selected",
    "gates",
    "knowledge_version",
    "issued_at",
)


def _fail(message: str) -> int:
    sys.stderr.write(f"cds-service: {message}\n")
    return 2


class PilotStoreSettings(StoreSettings):
    """The store settings and the site parameters file (its ``pilot:`` section sets the queue's retention)."""

    site_parameters_path: Path | None = None


def _database_url(given: str | None) -> str:
    """``--database-url`` or CDS_DATABASE_URL (a mistake is one line, exit 2: ``ConfigurationError``)."""
    from cds_service.cli import read_settings

    return given or read_settings(StoreSettings).database_url


def pilot_retention_days(site_parameters: Path | None = None) -> int:
    """``pilot.review_queue.retention_days`` of the site parameters (the file given, else CDS_SITE_PARAMETERS_PATH)."""
    from cds_service.cli import ConfigurationError, read_settings
    from cds_service.knowledge import KnowledgeError, load_knowledge

    site = site_parameters or read_settings(PilotStoreSettings).site_parameters_path
    try:
        return load_knowledge(site).pilot.review_queue.retention_days
    except KnowledgeError as exc:
        raise ConfigurationError([f"CDS_SITE_PARAMETERS_PATH: {exc}"]) from None


def prune_pilot_records(
    engine: Any, *, dry_run: bool = False, days: int | None = None, site_parameters: Path | None = None
) -> tuple[int, Any]:
    """Delete (or count) the review-queue entries and order events past the site's pilot retention."""
    from datetime import UTC, datetime

    from cds_service.store.retention import PILOT_RETAINED_TABLES, prune

    days = days if days is not None else pilot_retention_days(site_parameters)
    return days, prune(
        engine, timedelta(days=days), now=datetime.now(UTC), dry_run=dry_run, tables=PILOT_RETAINED_TABLES
    )


def _knowledge_lock(args: argparse.Namespace) -> int:
    """Write (or with --check, verify) the current version's entry of releases.yaml."""
    import yaml

    from cds_service.knowledge.releases import ReleaseError, lock_problems, write_lock

    folder = Path(args.folder)
    version = str(yaml.safe_load((folder / "knowledge.yaml").read_text(encoding="utf-8"))["version"])
    if args.check:
        problems = lock_problems(version, folder)
        for problem in problems:
            sys.stderr.write(f"cds-service: {problem}\n")
        return 1 if problems else 0
    try:
        if args.from_git:
            _lock_history(folder, Path(args.repo))
        _, changed = write_lock(folder, version)
    except ReleaseError as exc:
        return _fail(str(exc))
    sys.stdout.write(f"knowledge {version}: {'locked' if changed else 'already locked, unchanged'}\n")
    return 0


def _lock_history(folder: Path, repo: Path) -> None:
    """Add to the lock every earlier version of the git history it lacks (its files at the last commit that
    carried it: what the version meant when it was superseded)."""
    from cds_service.devtools.knowledge_history import HistoryError, release_folder, version_commits
    from cds_service.knowledge.releases import content_hashes, lock_text, locked, read_lock

    lock = read_lock(folder)
    try:
        commits = version_commits(repo)
        with tempfile.TemporaryDirectory(prefix="cds-knowledge-") as scratch:
            for version in commits:
                if version not in lock.releases:
                    _, old = release_folder(version, repo, Path(scratch))
                    lock = locked(lock, version, content_hashes(old))
                    sys.stdout.write(f"knowledge {version}: locked from commit {commits[version][:12]}\n")
    except HistoryError as exc:
        sys.stderr.write(f"cds-service: git history not read: {exc}\n")
        return
    (folder / "releases.yaml").write_text(lock_text(lock), encoding="utf-8")


def _knowledge_diff(args: argparse.Namespace) -> int:
    from cds_service.devtools.knowledge_history import HistoryError, release_folder
    from cds_service.knowledge.diff import diff_text, knowledge_diff

    with tempfile.TemporaryDirectory(prefix="cds-knowledge-") as scratch:
        try:
            old_label, old = release_folder(args.old, Path(args.repo), Path(scratch) / "old")
            new_label, new = release_folder(args.new, Path(args.repo), Path(scratch) / "new")
        except HistoryError as exc:
            return _fail(str(exc))
        sys.stdout.write(diff_text(old_label, new_label, knowledge_diff(old, new)))
    return 0


def _knowledge_impact(args: argparse.Namespace) -> int:
    from cds_service.devtools.impact import impact_text, knowledge_impact
    from cds_service.devtools.knowledge_history import HistoryError, release_folder
    from cds_service.knowledge import KnowledgeError

    with tempfile.TemporaryDirectory(prefix="cds-knowledge-") as scratch:
        try:
            old_label, old = release_folder(args.old, Path(args.repo), Path(scratch) / "old")
            new_label, new = release_folder(args.new, Path(args.repo), Path(scratch) / "new")
            changed, total = knowledge_impact(old, new, Path(args.scenarios), Path(args.fixtures), Path(args.repo))
        except (HistoryError, KnowledgeError) as exc:
            return _fail(str(exc))
        sys.stdout.write(impact_text(old_label, new_label, changed, total))
    return 0


def _review_key(args: argparse.Namespace) -> int:
    from cds_service.store.review_queue import new_key

    sys.stdout.write(new_key() + "\n")
    return 0


def _export_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        item: dict[str, Any] = {column: row.get(column) for column in EXPORT_COLUMNS}
        for column in ("reviewed_at", "issued_at"):
            when = item[column]
            item[column] = when.isoformat() if when is not None else None
        for column in ("selected", "gates"):
            stored = item[column]
            item[column] = json.loads(stored) if stored else None
        out.append(item)
    return out


def _review_export(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.store.feedback import FeedbackStore
    from cds_service.store.review_queue import verdict_rows

    store = FeedbackStore(_database_url(args.database_url))
    try:
        rows = _export_rows(verdict_rows(store.engine))
    except SQLAlchemyError as exc:
        return _fail(f"the store cannot be read: {type(exc).__name__}")
    finally:
        store.close()
    if args.format == "json":
        text = json.dumps({"verdicts": rows}, indent=2, ensure_ascii=False) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "+".join(v) if isinstance(v, list) else v for k, v in row.items()})
        text = buffer.getvalue()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _review_prune(args: argparse.Namespace) -> int:
    """``review prune``: the pilot's part of ``db prune``, on its own (queue entries and order events)."""
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.store.feedback import FeedbackStore

    site = Path(args.site_parameters) if args.site_parameters else None
    days = args.older_than if args.older_than is not None else pilot_retention_days(site)
    store = FeedbackStore(_database_url(args.database_url))
    try:
        _, result = prune_pilot_records(store.engine, days=days)
    except SQLAlchemyError as exc:
        return _fail(f"the store cannot be changed: {type(exc).__name__}")
    finally:
        store.close()
    counts = ", ".join(f"{count} {what}" for what, count in result.deleted.items())
    sys.stdout.write(f"deleted {counts} older than {days} days\n")
    return 0


def add_knowledge_commands(knowledge_commands: Any) -> None:
    """``knowledge lock``, ``knowledge diff``, ``knowledge impact``."""
    lock = knowledge_commands.add_parser(
        "lock", help="record the SHA-256 of every knowledge file for the current version (releases.yaml)"
    )
    lock.add_argument("--check", action="store_true", help="only check the files against the lock (exit 1: differ)")
    lock.add_argument("--folder", default="cds_service/knowledge", help="the knowledge folder")
    lock.add_argument(
        "--from-git", action="store_true", help="also record the earlier versions of the git history the lock lacks"
    )
    lock.add_argument("--repo", default=".", help="with --from-git: the git repository")
    lock.set_defaults(handler=_knowledge_lock)
    for name, handler, what in (
        ("diff", _knowledge_diff, "print what changed between two knowledge releases, in words"),
        ("impact", _knowledge_impact, "list the scenario and fixture patients whose advice changes"),
    ):
        command = knowledge_commands.add_parser(name, help=what)
        command.add_argument("old", help="a knowledge version (from git history), a git revision or a folder")
        command.add_argument("new", help="likewise")
        command.add_argument("--repo", default=".", help="the git repository (default: the current folder)")
        if name == "impact":
            command.add_argument("--scenarios", default="clinical-scenarios", help="folder of clinical scenarios")
            command.add_argument("--fixtures", default="fixtures/fhir/requests", help="folder of hook requests")
        command.set_defaults(handler=handler)


def add_review_commands(commands: Any) -> None:
    """``review key``, ``review export``, ``review prune``."""
    review = commands.add_parser("review", help="the pilot's pharmacist review queue")
    review_commands = review.add_subparsers(dest="review_command", required=True)
    key = review_commands.add_parser("key", help="print a new site key for CDS_REVIEW_QUEUE_KEY")
    key.set_defaults(handler=_review_key)
    export = review_commands.add_parser("export", help="the pharmacists' verdicts, with each card's record")
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument("--output", help="write to this file (default: standard output)")
    export.add_argument("--database-url", help="SQLAlchemy URL of the store (default: CDS_DATABASE_URL)")
    export.set_defaults(handler=_review_export)
    prune = review_commands.add_parser("prune", help="delete queue entries (patient references) past retention")
    prune.add_argument(
        "--older-than", type=int, metavar="DAYS", help="default: the site's pilot.review_queue.retention_days (90)"
    )
    prune.add_argument("--site-parameters", help="the site parameters file (default: CDS_SITE_PARAMETERS_PATH)")
    prune.add_argument("--database-url", help="SQLAlchemy URL of the store (default: CDS_DATABASE_URL)")
    prune.set_defaults(handler=_review_prune)
