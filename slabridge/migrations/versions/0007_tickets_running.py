"""tickets.running: the views of open tickets (metrics, the board) read those, not every ticket ever decided"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("running", sa.Boolean, nullable=False, server_default=sa.true()))
    op.create_index("tickets_running", "tickets", ["running"])
    op.create_index("tickets_updated", "tickets", ["updated_at"])
    tickets = sa.table("tickets", sa.column("vendor"), sa.column("ticket_id"), sa.column("state", sa.JSON),
                       sa.column("running"))
    conn = op.get_bind()
    mark = tickets.update().where((tickets.c.vendor == sa.bindparam("v")) & (tickets.c.ticket_id == sa.bindparam("t")))
    # Streamed a thousand at a time: a store of years holds more states than fit in memory at once.
    read = conn.execute(sa.select(tickets.c.vendor, tickets.c.ticket_id, tickets.c.state)
                        .execution_options(yield_per=1000))
    for rows in read.partitions():
        if stopped := [{"v": r.vendor, "t": r.ticket_id} for r in rows if not _running(r.state)]:
            conn.execute(mark.values(running=False), stopped)


def _running(state) -> bool:
    """TicketState.running, on the state as stored (this migration keeps its own copy of the rule). A state
    it cannot read counts as running: the views keep showing it, as before, and the upgrade goes on."""
    try:
        clocks = state.get("clocks") or {}
        for metric in state.get("deadlines") or {}:
            cycles = (clocks.get(metric) or {}).get("cycles") or ()
            if not cycles or cycles[-1].get("stopped_at") is None:
                return True
        return False
    except (AttributeError, TypeError, KeyError, IndexError):
        return True
