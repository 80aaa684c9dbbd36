"""incident ledger"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("vendor", sa.String(64)),
        sa.Column("ticket_id", sa.String(128)),
    )
    op.create_index("ledger_customer", "ledger", ["customer", "id"])
