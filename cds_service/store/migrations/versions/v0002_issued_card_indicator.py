"""The indicator each issued card showed (info, warning, critical), for the concordance report.

Older rows keep NULL: the report derives their indicator from the card's kind.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cds_issued_card") as table:
        table.add_column(sa.Column("indicator", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cds_issued_card") as table:
        table.drop_column("indicator")
