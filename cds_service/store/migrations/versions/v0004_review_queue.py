"""The pharmacist review queue of a pilot, the pharmacist's verdicts, and order events under a pseudonym.

``cds_review_item`` keeps what a reviewer needs to find the chart (the patient and encounter references of
the hook context, and the card as it would have been shown) sealed with the site's key, apart from the
de-identified ``cds_issued_card``; its rows are deleted after the retention period. ``cds_review_verdict``
holds the verdict on each card (agree, disagree, unsafe), a coded reason and a note, with no patient data.
``cds_order_event`` records each relevant order-select and order-sign call under a keyed pseudonym of the
patient (never the id), so that the report can follow an order from selection to signature.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_review_item",
        sa.Column("card_uuid", sa.String(64), primary_key=True),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("hook", sa.String(32), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("queued_because", sa.String(32), nullable=False),
        sa.Column("committee_reason", sa.String(128), nullable=True),
        sa.Column("knowledge_version", sa.String(32), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sealed", sa.Text, nullable=False),
    )
    op.create_index("ix_cds_review_item_queued_at", "cds_review_item", ["queued_at"])
    op.create_table(
        "cds_review_verdict",
        sa.Column("card_uuid", sa.String(64), primary_key=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("reviewer", sa.String(128), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cds_order_event",
        sa.Column("service_id", sa.String(128), primary_key=True),
        sa.Column("hook_instance", sa.String(128), primary_key=True),
        sa.Column("hook", sa.String(32), nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=False),
        sa.Column("selected", sa.Text, nullable=True),
        sa.Column("knowledge_version", sa.String(32), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cds_order_event_patient_key", "cds_order_event", ["patient_key"])
    op.create_index("ix_cds_order_event_occurred_at", "cds_order_event", ["occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_cds_order_event_occurred_at", table_name="cds_order_event")
    op.drop_index("ix_cds_order_event_patient_key", table_name="cds_order_event")
    op.drop_table("cds_order_event")
    op.drop_table("cds_review_verdict")
    op.drop_index("ix_cds_review_item_queued_at", table_name="cds_review_item")
    op.drop_table("cds_review_item")
