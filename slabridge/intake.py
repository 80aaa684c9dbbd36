"""The receiver's hot path: one webhook, one inbox row, one statement, a durable commit.

A Core transaction costs a webhook more than its own disk write: a pre-ping round
trip, BEGIN, the ticket's turn lock and the insert as separate statements, COMMIT.
Here, on a pooled DBAPI connection:

- PostgreSQL: the ticket's turn lock (see ``Store._insert_inbox``) and the insert are
  one autocommit statement: one round trip, and the lock is held to its commit. It is prepared once per
  connection and run through libpq itself (``pgconn.exec_prepared``, the GIL released while it waits):
  the cursor's machinery around a statement cost more of a webhook's CPU than the statement's own wait.
- SQLite: its turn to write (:mod:`.writerturns`), ``BEGIN IMMEDIATE``, ``INSERT``, ``COMMIT`` (the
  commit is the fsync), shared by every insert of the process's threads in flight at once
  (:mod:`.groupcommit`); a row the database refuses for a reason other than a duplicate is then
  tried alone, so it fails alone.

A connection found dropped (the database restarted since it was pooled) is discarded
and the insert tried once more on a fresh one; nothing is pinged in advance. A database that cannot
be reached (or, on SQLite, stays locked past its timeout) raises :class:`StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from .groupcommit import GroupCommit
from .values import json_text


Statement = str | tuple[bytes, bytes]  # SQLite: the text; PostgreSQL: (the prepared statement's name, its text)


class StoreUnavailable(Exception):
    """The inbox cannot take the webhook now (database down, unreachable, or locked past its timeout):
    nothing was stored, and the sender should try again. ``detail`` is the database's own first line,
    for the log (it may name hosts: not for the sender)."""

    def __init__(self, message: str, cause: BaseException):
        super().__init__(message)
        self.detail = f"{cause.__class__.__name__}: {(str(cause).splitlines() or [''])[0][:200]}"


class Intake:
    def __init__(self, engine: Engine, table: sa.Table):
        self.engine = engine
        self.dialect = engine.dialect
        self.postgres = self.dialect.name == "postgresql"
        self.table = table
        self._statements: dict[tuple[str, ...], Statement] = {}  # by the row's columns, as the store fills them
        self._together = None if self.postgres else GroupCommit(self._write_together)

    def _statement(self, columns: tuple[str, ...]) -> Statement:
        """SQLite: the insert's text. PostgreSQL: (its prepared name, its text): the turn's key is ``$1``, the
        columns' values follow as text, each cast to its column's type."""
        names = ", ".join(columns)
        if self.postgres:
            values = ", ".join(f"CAST(${n} AS {self._cast_type(c)})" for n, c in enumerate(columns, 2))
            return (f"slabridge_intake_{len(self._statements)}".encode(),
                    f"WITH turn AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) "
                    f"INSERT INTO {self.table.name} ({names}) SELECT {values} FROM turn".encode())
        return (f"INSERT INTO {self.table.name} ({names}) VALUES ({', '.join(f':{c}' for c in columns)}) "
                "ON CONFLICT DO NOTHING")  # a duplicate inserts nothing (and fails no other row with it)

    def _cast_type(self, column: str) -> str:
        """The type a parameter is read as: the column's, but text without its length (a cast to
        ``VARCHAR(128)`` cuts longer text short; the column's own check refuses it)."""
        kind = self.table.c[column].type
        return (type(kind)() if isinstance(kind, sa.String) else kind).compile(dialect=self.dialect)

    def insert(self, row: dict[str, Any], turn: str) -> bool:
        """Insert ``row`` (its ``event`` as JSON text, as the Core JSON type writes it) durably; False if
        a unique constraint refused it (a duplicate delivery). ``turn`` names the ticket whose inserts
        take turns."""
        columns = tuple(row)
        statement = self._statements.get(columns) or self._statements.setdefault(columns, self._statement(columns))
        row = {**row, "event": json_text(row["event"])}
        if self._together is not None:
            return self._together.submit((statement, row))
        values = [_as_text(turn), *(_as_text(row[c]) for c in columns)]
        return self._on_connection(lambda connection: self._insert_postgres(connection, statement, values))

    def _on_connection(self, work: Callable[[Any], Any]) -> Any:
        """``work`` on a pooled DBAPI connection; where the connection was found dropped, once more on a fresh
        one. StoreUnavailable where the database cannot be reached or stays locked."""
        dbapi = self.dialect.loaded_dbapi
        for attempt in (1, 2):
            try:
                connection = self.engine.raw_connection()
            except (DBAPIError, dbapi.Error) as exc:  # no connection to be had: down or unreachable
                raise StoreUnavailable("database unreachable", getattr(exc, "orig", None) or exc) from exc
            try:
                return work(connection)
            except dbapi.Error as exc:
                dropped = self.dialect.is_disconnect(exc, connection.dbapi_connection, None)
                if dropped:
                    connection.invalidate(exc)
                if isinstance(exc, dbapi.OperationalError) and (attempt == 2 or not dropped):
                    raise StoreUnavailable("database unavailable", exc) from exc
                if not dropped or attempt == 2:
                    raise
            finally:
                connection.close()  # back to the pool (or gone, if invalidated)
        raise AssertionError("unreachable")

    def _insert_postgres(self, connection, statement: tuple[bytes, bytes], values: list[bytes | None]) -> bool:
        """One autocommit statement, the ticket's turn lock and the insert, prepared on first use."""
        pgconn, (name, text) = connection.dbapi_connection.pgconn, statement
        prepared = connection.info.setdefault("slabridge_intake", set())  # cleared with a new DBAPI connection
        if name not in prepared:
            _succeeded(pgconn, pgconn.prepare(name, text))
            prepared.add(name)
        try:
            _succeeded(pgconn, pgconn.exec_prepared(name, values))
            return True
        except self.dialect.loaded_dbapi.IntegrityError:
            return False

    def _write_together(self, items: list[tuple[str, dict[str, Any]]]) -> list[bool | BaseException]:
        """SQLite: every waiting insert in one transaction; if the database refuses one of several (not a
        duplicate, not a locked or unreachable database: those fail them all), each is tried alone."""
        try:
            return self._on_connection(lambda connection: self._insert_sqlite(connection, items))
        except self.dialect.loaded_dbapi.Error:
            if len(items) == 1:
                raise
        outcomes: list[bool | BaseException] = []
        for item in items:
            try:
                outcomes += self._on_connection(lambda connection: self._insert_sqlite(connection, [item]))
            except Exception as exc:  # noqa: BLE001 - that caller's own error
                outcomes.append(exc)
        return outcomes

    def _insert_sqlite(self, connection, items: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        """Its turn, ``BEGIN IMMEDIATE``, the inserts, ``COMMIT``: whether each row was new."""
        cursor = connection.cursor()
        try:
            connection.dbapi_connection.take_turn()  # see slabridge.writerturns
            try:
                cursor.execute("BEGIN IMMEDIATE")
                inserted = []
                for sql, params in items:
                    cursor.execute(sql, params)
                    inserted.append(cursor.rowcount == 1)
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
            return inserted
        finally:
            cursor.close()


def _as_text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text form, as libpq sends it (None: NULL). Text holding NUL is refused
    as psycopg refuses it: libpq would cut it there."""
    if value is None:
        return None
    if isinstance(value, str):
        if "\x00" in value:
            import psycopg

            raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        return value.encode()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, (int, float)):
        return repr(value).encode()
    raise TypeError(f"no text form for a {type(value).__name__} parameter")


def _succeeded(pgconn, result) -> None:
    """Raise the psycopg error a failed ``result`` stands for (OperationalError where the connection was
    lost, so that the pool drops it)."""
    import psycopg
    from psycopg import errors, pq

    if result.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        return
    if pgconn.status == pq.ConnStatus.BAD:
        raise psycopg.OperationalError(f"the connection was lost: {pgconn.error_message.decode('utf-8', 'replace')}")
    raise errors.error_from_result(result, encoding="utf-8")
