"""Which database errors are outages a client is told about, and which travel on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import exc as sa

from chattree.db import failures
from chattree.db.failures import unavailable


class PostgresError(Exception):
    """What asyncpg raises, as SQLAlchemy's asyncpg adapter passes it on."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def wrapped(orig: BaseException, **options: bool) -> sa.DBAPIError:
    error = sa.DBAPIError.instance("INSERT ...", {}, orig, Exception, **options)
    assert isinstance(error, sa.DBAPIError)
    return error


def sqlite_error(sql: str, connection: sqlite3.Connection) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as raised:
        connection.execute(sql)
    return raised.value


@pytest.mark.parametrize(
    ("sqlstate", "message"),
    [
        ("25006", failures.READ_ONLY),
        ("53100", failures.FULL),
        ("53300", failures.UNREACHABLE),
        ("08006", failures.UNREACHABLE),
        ("57P01", failures.UNREACHABLE),
        ("57P03", failures.UNREACHABLE),
    ],
)
def test_postgresql_outages_are_told_by_their_sqlstate(sqlstate: str, message: str) -> None:
    failure = unavailable(wrapped(PostgresError("the server says no", sqlstate)))
    assert failure is not None and failure.message == message
    assert failure.code == "INTERNAL"
    # Also when asyncpg raises it before SQLAlchemy could wrap it (while connecting).
    raw = unavailable(PostgresError("the server says no", sqlstate))
    assert raw is not None and raw.message == message


def test_a_read_only_sqlite_file_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        error = sqlite_error("INSERT INTO t VALUES (1)", connection)
    finally:
        connection.close()
    failure = unavailable(wrapped(error))
    assert failure is not None and failure.message == failures.READ_ONLY


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
        sa.TimeoutError("QueuePool limit reached"),
        wrapped(Exception("connection lost"), connection_invalidated=True),
    ],
)
def test_lost_and_refused_connections_are_unreachable(error: BaseException) -> None:
    failure = unavailable(error)
    assert failure is not None and failure.message == failures.UNREACHABLE


@pytest.mark.parametrize(
    "error",
    [
        wrapped(PostgresError("duplicate key", "23505")),
        wrapped(PostgresError("syntax error", "42601")),
        sa.IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed")),
        ValueError("a bug"),
    ],
)
def test_constraint_violations_and_bugs_are_not_outages(error: BaseException) -> None:
    assert unavailable(error) is None
