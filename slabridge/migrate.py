"""Schema migrations with Alembic, imported only when a database needs one (Alembic costs a process ~10 MiB).

The scripts are ``migrations/versions/<revision>_<what>.py``, one per version, never edited once shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Migration:
    version: int
    description: str


def alembic_config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    return config


def migrations() -> list[Migration]:
    """Every migration, oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config()).walk_revisions()
    return [Migration(int(s.revision), s.doc) for s in reversed(list(scripts))]


def upgrade(conn: Connection, to: str = "head") -> None:
    """Apply the migrations up to ``to`` on ``conn``, inside its transaction."""
    command.upgrade(alembic_config(conn), to)
