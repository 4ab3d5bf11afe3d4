"""Schema migrations of the feedback store: apply them, and tell whether a database is current.

The revisions live in ``migrations/versions`` (Alembic). ``cds-service db upgrade`` applies them; the
service refuses to start on a database whose schema is behind, except that in development an embedded
SQLite file is brought up to date at start-up (so ``./scripts/serve`` works on a fresh clone). A server
database (PostgreSQL) is never changed at start-up: several replicas would race, and a schema change is
an operator's decision (the Kubernetes migration Job, the compose ``migrate`` service).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from cds_service.store.schema import VERSION_TABLE

logger = logging.getLogger("cds_service.store")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "cds-service db upgrade"


class SchemaBehindError(RuntimeError):
    """The database's schema is older than this version of the service needs."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None  # None: no revision recorded (an empty database, or one made before migrations)
    head: str
    known: bool  # the current revision is one of this version's (False: a newer version migrated it)

    @property
    def behind(self) -> bool:
        return self.current != self.head and (self.current is None or self.known)

    def describe(self) -> str:
        return f"at revision {self.current or 'none'}, this version needs {self.head}"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration revision found in {MIGRATIONS}")
    return head


def schema_state(engine: Engine) -> SchemaState:
    """Where the database stands against this version's migrations (reads only)."""
    script = ScriptDirectory.from_config(_config())
    with engine.connect() as connection:
        current = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()
    known = current is None or current in {revision.revision for revision in script.walk_revisions()}
    return SchemaState(current, head_revision(), known)


def upgrade(engine: Engine, revision: str = "head") -> SchemaState:
    """Apply every migration up to ``revision`` in one transaction; returns the state afterwards."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return schema_state(engine)


def downgrade(engine: Engine, revision: str) -> SchemaState:
    """Undo the migrations after ``revision`` in one transaction (an operator's rollback; no command runs it)."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    return schema_state(engine)


def upgrades_at_start(engine: Engine, environment: str) -> bool:
    """The start-up policy: only an embedded SQLite database in development is upgraded automatically."""
    return environment == "development" and engine.dialect.name == "sqlite"


def require_current_schema(engine: Engine, *, upgrade_if_behind: bool) -> SchemaState:
    """Raise SchemaBehindError (one line naming the command) unless the schema is current.

    A revision this version does not know was written by a newer version (a rolling upgrade or a
    rollback): the service runs, with a warning, since migrations only add to the schema.
    """
    state = schema_state(engine)
    if state.behind and upgrade_if_behind:
        logger.info("upgrading the embedded SQLite schema", extra={"from": state.current, "to": state.head})
        state = upgrade(engine)
    if state.behind:
        raise SchemaBehindError(f"the database schema is behind ({state.describe()}): run `{UPGRADE_COMMAND}`")
    if not state.known:
        logger.warning("database schema is newer than this version", extra={"revision": state.current})
    return state
