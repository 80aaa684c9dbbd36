"""outbox claims walk (status, id): a backlog of writes no longer makes every claim read and sort it all"""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_index("outbox_by_status", "outbox", ["status", "id"])
    op.drop_index("outbox_due", table_name="outbox")
