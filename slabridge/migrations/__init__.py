"""Schema migrations (Alembic): one file per version under ``versions/``, applied by ``Store.upgrade()``
and ``slabridge db upgrade``. Append a new file for every schema change; never edit one that has shipped."""
