"""outbox.ticket_changed_at: when the ticket last changed, as the event a write's decision answered said"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    # A client that remembers a ticket between its writes (Zendesk's update stamp) forgets what is older:
    # a write after someone else's change then reads the ticket first instead of meeting a 409.
    op.add_column("outbox", sa.Column("ticket_changed_at", sa.Float))
