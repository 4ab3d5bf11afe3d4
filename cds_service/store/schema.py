"""The feedback store's tables, as the code reads and writes them.

The database itself is created and changed only by the Alembic migrations in ``migrations/versions``
(``cds-service db upgrade``); a test checks that these definitions and the migrated database agree.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, UniqueConstraint

# Alembic's record of the applied revision, named after the service so it can share a database.
VERSION_TABLE = "cds_alembic_version"

metadata = MetaData()

feedback_table = Table(
    "cds_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(128), nullable=False),
    Column("card_uuid", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", String(40), nullable=False),
    Column("accepted_suggestions", Text, nullable=True),
    Column("override_reason_system", String(512), nullable=True),
    Column("override_reason_code", String(128), nullable=True),
    Column("override_comment", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("service_id", "card_uuid", "outcome", "outcome_timestamp", name="uq_cds_feedback_once"),
)


issued_card_table = Table(
    "cds_issued_card",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(128), nullable=False),
    Column("hook_instance", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("setting", String(64), nullable=True),
    Column("selected", Text, nullable=True),
    Column("suggestions", Text, nullable=True),
    Column("knowledge_version", String(32), nullable=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("indicator", String(16), nullable=True),  # revision 0002; NULL on cards recorded before it
    # revision 0003: JSON list of the ids of the safety gates (knowledge/gates.yaml) that fired for the card,
    # sorted; "[]" when none did; NULL on cards recorded before it (shown as "unknown" in reports)
    Column("gates", Text, nullable=True),
)


# revision 0004: the pharmacist review queue (pilot). Kept apart from the de-identified issued-card record:
# ``sealed`` holds the patient and encounter references and the card as it would have been shown, encrypted
# with the site's key (CDS_REVIEW_QUEUE_KEY, Fernet); rows are deleted after the retention period.
review_item_table = Table(
    "cds_review_item",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(128), nullable=False),
    Column("hook", String(32), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("queued_because", String(32), nullable=False),  # warning | critical | info-sample
    Column("committee_reason", String(128), nullable=True),  # an override "disagrees with the evidence"
    Column("knowledge_version", String(32), nullable=True),
    Column("queued_at", DateTime(timezone=True), nullable=False, index=True),
    Column("sealed", Text, nullable=False),
)

# revision 0004: the pharmacist's verdict on a card (de-identified: the card's uuid joins the issued-card record).
review_verdict_table = Table(
    "cds_review_verdict",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("verdict", String(16), nullable=False),  # agree | disagree | unsafe
    Column("reason_code", String(64), nullable=False),
    Column("note", Text, nullable=True),
    Column("reviewer", String(128), nullable=True),
    Column("reviewed_at", DateTime(timezone=True), nullable=False),
)

# revision 0004: the order hooks' calls, keyed by a pseudonym of the patient (an HMAC with the site key, never the
# id), so that the report can tell whether the order signed followed the advice given at order-select.
order_event_table = Table(
    "cds_order_event",
    metadata,
    Column("service_id", String(128), primary_key=True),
    Column("hook_instance", String(128), primary_key=True),
    Column("hook", String(32), nullable=False),
    Column("patient_key", String(64), nullable=False, index=True),
    Column("selected", Text, nullable=True),  # JSON list of the selected regimens (as cds_issued_card.selected)
    Column("knowledge_version", String(32), nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False, index=True),
)
