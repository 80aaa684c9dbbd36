"""inbox, tickets, outbox, timers, audit"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("delivery_id", sa.String(256), nullable=False),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("event", sa.JSON, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("processed_at", sa.Float),
        sa.UniqueConstraint("vendor", "delivery_id", name="inbox_delivery_once"),
    )
    op.create_index("inbox_ticket_order", "inbox", ["vendor", "ticket_id", "id"])
    op.create_index("inbox_pending", "inbox", ["status", "id"])
    op.create_table(
        "tickets",
        sa.Column("vendor", sa.String(64), primary_key=True),
        sa.Column("ticket_id", sa.String(128), primary_key=True),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("delivery_id", sa.String(256)),
        sa.Column("action", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float),
    )
    op.create_index("outbox_ticket_order", "outbox", ["vendor", "ticket_id", "id"])
    op.create_index("outbox_due", "outbox", ["status", "not_before"])
    op.create_table(
        "timers",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("fire_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("timers_due", "timers", ["status", "fire_at"])
    op.create_index("timers_ticket", "timers", ["vendor", "ticket_id"])
    op.create_table(
        "audit",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("delivery_id", sa.String(256)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
    )
    op.create_index("audit_ticket", "audit", ["vendor", "ticket_id", "id"])
