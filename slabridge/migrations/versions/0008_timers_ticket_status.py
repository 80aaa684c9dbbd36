"""timers_ticket takes the status: dropping a ticket's pending timers no longer walks every pending timer"""

from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    # Without it SQLite answers "this ticket's pending timers" through (status, fire_at): every pending
    # timer of every ticket, at each decision.
    op.drop_index("timers_ticket", table_name="timers")
    op.create_index("timers_ticket", "timers", ["vendor", "ticket_id", "status"])
