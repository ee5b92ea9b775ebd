"""No psycopg exception escapes a repository call: every SQLSTATE class a user can cause is an
``AmpdbError``, and the test's transaction stays usable after it.

Most classes are caused for real (a statement timeout, a read-only transaction, a missing
privilege, a held lock, a terminated backend); for the ones a single connection cannot cause on
demand (a deadlock, a serialization failure, a full disk, ...) a trigger raises that SQLSTATE from
the server, so the error still travels the real path from PostgreSQL through psycopg.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb import migrations
from pytest_ampdb.errors import AmpdbError, ValidationError
from pytest_ampdb.harness.isolation import repositories_over
from pytest_ampdb.models import Destination, DestinationType, Organization, Project
from pytest_ampdb.postgres.convert import configure_connection
from pytest_ampdb.postgres.errors import ConnectionLostError, DatabaseError, ServerTimeoutError
from pytest_ampdb.types import Repositories

pytestmark = pytest.mark.postgres


@pytest.fixture
def dsn(fresh_database: str) -> str:
    migrations.apply(fresh_database)
    return fresh_database


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    connection = psycopg.connect(dsn)
    configure_connection(connection)
    try:
        yield connection
    finally:
        connection.close()


def _project(repos: Repositories) -> str:
    org = repos.organizations.create(Organization(label="Org", default_team_id=str(uuid.uuid4())))
    return repos.projects.create(
        Project(name=f"p-{uuid.uuid4().hex[:8]}", app_name="App", organization_id=org.id)
    ).id


def _destination(project_id: str) -> Destination:
    return Destination(
        project_id=project_id,
        name=f"hook-{uuid.uuid4().hex[:8]}",
        type=DestinationType.WEBHOOK,
        metadata={"url": "https://example.com"},
    )


def _raised(call: Any) -> AmpdbError:
    """The error ``call`` raised; it must be an ``AmpdbError`` with no driver error attached."""
    try:
        call()
    except Exception as exc:  # anything: a psycopg error escaping is what this looks for
        error = exc
    else:
        raise AssertionError("the call succeeded")
    assert isinstance(error, AmpdbError), f"{type(error).__module__}.{type(error).__name__}"
    assert not isinstance(error.__cause__, psycopg.Error)
    assert error.__suppress_context__ or not isinstance(error.__context__, psycopg.Error)
    return error


def _still_usable(repos: Repositories, project_id: str) -> None:
    made = repos.destinations.create(_destination(project_id))
    assert repos.destinations.get_by_id(project_id, made.id) == made


RAISED_STATES = [
    ("22012", ValidationError),  # data exception: division by zero
    ("22P05", ValidationError),  # data exception: untranslatable character
    ("23P01", DatabaseError),  # integrity: exclusion violation
    ("23001", DatabaseError),  # integrity: restrict violation
    ("25006", DatabaseError),  # invalid transaction state: read-only transaction
    ("40001", DatabaseError),  # serialization failure
    ("40P01", DatabaseError),  # deadlock detected
    ("42501", DatabaseError),  # insufficient privilege
    ("42P01", DatabaseError),  # undefined table
    ("53100", DatabaseError),  # insufficient resources: disk full
    ("54000", ValidationError),  # program limit exceeded (index row size)
    ("54001", ValidationError),  # statement too complex (stack depth)
    ("55P03", ServerTimeoutError),  # object not in prerequisite state: lock not available
    ("57014", ServerTimeoutError),  # operator intervention: query canceled (a DatabaseError too)
    ("08006", ConnectionLostError),  # connection failure
    ("P0001", DatabaseError),  # raise_exception from a user's own trigger
    ("XX000", DatabaseError),  # internal error
]


@pytest.mark.parametrize(("state", "expected"), RAISED_STATES, ids=[s for s, _ in RAISED_STATES])
def test_every_sqlstate_class_raised_by_the_server_is_an_ampdb_error(
    conn: psycopg.Connection[Any], state: str, expected: type[AmpdbError]
) -> None:
    repos = repositories_over(conn)
    project_id = _project(repos)
    conn.execute(
        sql.SQL(
            "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.name LIKE 'refused-%' THEN RAISE EXCEPTION 'refused on purpose' "
            "USING ERRCODE = {}; END IF; RETURN NEW; END $$"
        ).format(sql.Literal(state))
    )
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON destinations "
        "FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()"
    )
    refused = dataclasses.replace(_destination(project_id), name="refused-1")
    error = _raised(lambda: repos.destinations.create(refused))
    assert type(error) is expected
    assert "refused on purpose" in str(error) or expected is ConnectionLostError
    if isinstance(error, DatabaseError):
        assert (error.sqlstate, error.table) == (state, "destinations")
    if isinstance(error, ServerTimeoutError):  # worded for the waiting test: backend and server
        assert str(error).startswith("PostgreSQL: ")
    elif isinstance(error, DatabaseError):
        assert str(error).startswith(
            f"destinations: PostgreSQL refused the call (SQLSTATE {state})"
        )
    if expected is not ConnectionLostError:
        _still_usable(repos, project_id)


def test_a_cancelled_statement_is_an_ampdb_error(conn: psycopg.Connection[Any]) -> None:
    repos = repositories_over(conn)
    project_id = _project(repos)
    conn.execute(
        "CREATE FUNCTION pg_temp.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_sleep(5); RETURN NEW; END $$"
    )
    conn.execute(
        "CREATE TRIGGER slow BEFORE INSERT ON destinations "
        "FOR EACH ROW EXECUTE FUNCTION pg_temp.slow()"
    )
    conn.execute("SET LOCAL statement_timeout = '50ms'")
    error = _raised(lambda: repos.destinations.create(_destination(project_id)))
    assert isinstance(error, DatabaseError)
    assert error.sqlstate == "57014"
    conn.execute("SET LOCAL statement_timeout = 0")
    conn.execute("DROP TRIGGER slow ON destinations")
    _still_usable(repos, project_id)


def test_a_write_in_a_read_only_transaction_is_an_ampdb_error(
    conn: psycopg.Connection[Any],
) -> None:
    repos = repositories_over(conn)
    project_id = _project(repos)
    conn.commit()
    conn.execute("SET TRANSACTION READ ONLY")
    error = _raised(lambda: repos.destinations.create(_destination(project_id)))
    assert isinstance(error, DatabaseError)
    assert error.sqlstate == "25006"
    assert repos.projects.get_by_id(project_id).id == project_id  # reads still work
    conn.rollback()


def test_a_missing_privilege_is_an_ampdb_error(conn: psycopg.Connection[Any]) -> None:
    repos = repositories_over(conn)
    project_id = _project(repos)
    role = f"ampdb_reader_{uuid.uuid4().hex[:8]}"
    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    as_reader = sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role))
    conn.execute(as_reader)
    error = _raised(lambda: repos.destinations.create(_destination(project_id)))
    assert isinstance(error, DatabaseError)
    assert error.sqlstate == "42501"
    conn.execute("RESET ROLE")
    _still_usable(repos, project_id)
    conn.execute(as_reader)
    # a read is sent bare (no savepoint): it fails as the same SELECT would, ending the
    # transaction, but still as an AmpdbError
    error = _raised(lambda: repos.destinations.list(project_id))
    assert isinstance(error, DatabaseError)
    assert error.sqlstate == "42501"
    conn.rollback()  # the role goes with the transaction


def test_a_lock_not_granted_in_time_is_an_ampdb_error(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    repos = repositories_over(conn)
    project_id = _project(repos)
    made = repos.destinations.create(_destination(project_id))
    conn.commit()
    with psycopg.connect(dsn) as holder:
        holder.execute("SELECT 1 FROM destinations WHERE id = %s FOR UPDATE", (made.id,))
        conn.execute("SET LOCAL lock_timeout = '50ms'")
        renamed = dataclasses.replace(made, name="renamed")
        error = _raised(lambda: repos.destinations.update(renamed))
        assert isinstance(error, DatabaseError)
        assert error.sqlstate == "55P03"
        holder.rollback()
    assert repos.destinations.get_by_id(project_id, made.id) == made
    conn.rollback()


def test_a_terminated_backend_is_an_ampdb_error(conn: psycopg.Connection[Any], dsn: str) -> None:
    repos = repositories_over(conn)
    project_id = _project(repos)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    error = _raised(lambda: repos.destinations.list(project_id))
    assert isinstance(error, ConnectionLostError)
    error = _raised(lambda: repos.destinations.list(project_id))  # and on the closed connection
    assert isinstance(error, ConnectionLostError | DatabaseError)
