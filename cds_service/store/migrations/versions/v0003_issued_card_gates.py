"""The safety gates that fired for each issued card (ids of knowledge/gates.yaml), for the concordance report.

A JSON list of gate ids, sorted (``[]``: no gate fired). Older rows keep NULL: the report shows their gates
as "unknown". Gate ids name knowledge rules, never the patient.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cds_issued_card") as table:
        table.add_column(sa.Column("gates", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cds_issued_card") as table:
        table.drop_column("gates")
