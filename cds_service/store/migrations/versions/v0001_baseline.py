"""Baseline: the feedback and issued-card tables exactly as the service created them before migrations.

A database made by those versions (tables present, no revision recorded) is adopted as it is: each table
is created only when absent, and an existing one must have the columns it had then. Its rows stay.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

FEEDBACK_COLUMNS = {
    "id",
    "service_id",
    "card_uuid",
    "outcome",
    "outcome_timestamp",
    "accepted_suggestions",
    "override_reason_system",
    "override_reason_code",
    "override_comment",
    "received_at",
}
ISSUED_CARD_COLUMNS = {
    "card_uuid",
    "service_id",
    "hook_instance",
    "kind",
    "setting",
    "selected",
    "suggestions",
    "knowledge_version",
    "issued_at",
}


def _exists_as_shipped(inspector: sa.Inspector, table: str, columns: set[str]) -> bool:
    if not inspector.has_table(table):
        return False
    missing = columns - {column["name"] for column in inspector.get_columns(table)}
    if missing:
        raise RuntimeError(f"table {table} exists but lacks columns {sorted(missing)}: not this service's schema")
    return True


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not _exists_as_shipped(inspector, "cds_feedback", FEEDBACK_COLUMNS):
        op.create_table(
            "cds_feedback",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("service_id", sa.String(128), nullable=False),
            sa.Column("card_uuid", sa.String(64), nullable=False),
            sa.Column("outcome", sa.String(16), nullable=False),
            sa.Column("outcome_timestamp", sa.String(40), nullable=False),
            sa.Column("accepted_suggestions", sa.Text, nullable=True),
            sa.Column("override_reason_system", sa.String(512), nullable=True),
            sa.Column("override_reason_code", sa.String(128), nullable=True),
            sa.Column("override_comment", sa.Text, nullable=True),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.UniqueConstraint("service_id", "card_uuid", "outcome", "outcome_timestamp", name="uq_cds_feedback_once"),
        )
    if not _exists_as_shipped(inspector, "cds_issued_card", ISSUED_CARD_COLUMNS):
        op.create_table(
            "cds_issued_card",
            sa.Column("card_uuid", sa.String(64), primary_key=True),
            sa.Column("service_id", sa.String(128), nullable=False),
            sa.Column("hook_instance", sa.String(128), nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("setting", sa.String(64), nullable=True),
            sa.Column("selected", sa.Text, nullable=True),
            sa.Column("suggestions", sa.Text, nullable=True),
            sa.Column("knowledge_version", sa.String(32), nullable=True),
            sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("cds_issued_card")
    op.drop_table("cds_feedback")
