"""Opening the database a process runs on, or saying plainly why it cannot be used.

The command line and the receiver's app factory (what gunicorn calls) start the same way: a
database that cannot be used is a message naming it (password hidden) and the reason, never a
traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a store is opened: the command line starts without SQLAlchemy
    from .store import Store


class CannotStart(Exception):
    """What stops a process from starting, one problem a line (as :class:`~slabridge.config.ConfigError`)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def shown_url(url: str) -> str:
    """A database URL as it may be shown: without its password (one that cannot be parsed, without its user
    and password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in url:
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"


def open_store(url: str, upgrade: bool = True) -> Store:
    """The store at ``url``, migrated (or, without ``upgrade``, only reached); :class:`CannotStart` if the URL
    is not a database URL, the database cannot be reached or used, or its schema is newer than this
    slabridge knows."""
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    from .store import SchemaUnknown, Store

    try:
        store = Store(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:  # ArgumentError's text would show the password
        reason = "it cannot be parsed" + ("" if isinstance(exc, ArgumentError) else f" ({exc})")
        raise CannotStart([f"database_url {shown_url(url)!r} is not a database URL: {reason}"]) from None
    try:
        if upgrade:
            store.upgrade()
        else:
            store.version()  # reaches the database, and reads a revision it knows
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else exc.__class__.__name__
        raise CannotStart([f"cannot use the database {shown_url(url)}: {reason}"]) from None
    except SchemaUnknown as exc:
        raise CannotStart([f"cannot use the database {shown_url(url)}: {exc}"]) from None
    return store
