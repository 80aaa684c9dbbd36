"""Alembic's environment: slabridge passes its own connection; nothing is read from an ini file."""

from alembic import context

context.configure(connection=context.config.attributes["connection"], render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
