"""inbox_ticket_order takes the status: "has this ticket an earlier pending event?" is one index seek"""

from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    # Without it SQLite answers the claim's question through (status, id): every pending event older
    # than the one asked about, of any ticket (events waiting for a retry pile up ahead of the rest).
    op.drop_index("inbox_ticket_order", table_name="inbox")
    op.create_index("inbox_ticket_order", "inbox", ["vendor", "ticket_id", "status", "id"])
