"""write-back lease holders, failure streaks, inbox content keys, vendor pauses"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("outbox")}
    # Databases made by the runner before Alembic may already have these (its first step built the newest schema).
    if "lease_owner" not in have:
        op.add_column("outbox", sa.Column("lease_owner", sa.String(64)))
        op.add_column("outbox", sa.Column("failing_since", sa.Float))
    if "content_key" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("inbox")}:
        op.add_column("inbox", sa.Column("content_key", sa.String(64)))
        op.create_index("inbox_content_once", "inbox", ["vendor", "content_key"], unique=True)
    if not sa.inspect(op.get_bind()).has_table("vendor_pauses"):
        op.create_table(
            "vendor_pauses",
            sa.Column("vendor", sa.String(64), primary_key=True),
            sa.Column("until", sa.Float, nullable=False),
        )
