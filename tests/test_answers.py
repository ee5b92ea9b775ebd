"""Bounded connections (``pytest_ampdb.answers``) on a live server: a call past the bound that
the server still runs is waited for, one it has just finished is not taken for a frozen server,
and a call the server never took is given up at the bound."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb.answers import (
    ANSWER_GRACE,
    BUSY_ROUNDS,
    Asked,
    BoundedConnection,
    NoAnswerError,
    StillRunningError,
    open_bounded,
)


def test_a_call_the_server_still_runs_past_the_bound_is_waited_for(pg_admin_dsn: str) -> None:
    with open_bounded(pg_admin_dsn, answer_timeout=0.3, while_running=True) as conn:
        started = time.monotonic()
        assert conn.execute("SELECT pg_sleep(1.2), 7").fetchone() == ("", 7)
        assert time.monotonic() - started >= 1.2


def test_a_call_finished_while_the_server_was_asked_is_not_taken_for_a_frozen_server(
    pg_admin_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the question at the bound has: the server reports the backend idle (it has just
    finished the call) while its answer is still on the way. The question is made to come back
    only after the call's end, saying it does not run it: the answer waiting in the socket is
    taken, the call returns."""
    asked: list[float] = []

    def after_the_call(self: BoundedConnection, limit: float) -> Asked:
        time.sleep(1.0)  # the call (0.6 s) ends meanwhile: the server would say "idle"
        asked.append(limit)
        return Asked(None, ANSWER_GRACE, sure=True)

    monkeypatch.setattr(BoundedConnection, "_asked", after_the_call)
    with open_bounded(pg_admin_dsn, answer_timeout=0.3, while_running=True) as conn:
        assert conn.execute("SELECT pg_sleep(0.6), 8").fetchone() == ("", 8)
    assert asked == [0.3]


def test_where_the_bound_is_final_a_call_past_it_is_given_up(pg_admin_dsn: str) -> None:
    """Without ``while_running`` (a test's calls, a lease) the server is asked nothing: a call
    past the bound ends with ``NoAnswerError`` and the connection is closed."""
    with open_bounded(pg_admin_dsn, answer_timeout=0.3) as conn:
        started = time.monotonic()
        with pytest.raises(NoAnswerError, match=r"no answer from the server within 0\.3 s"):
            conn.execute("SELECT pg_sleep(2)")
        assert time.monotonic() - started < 1.5
        assert conn.closed


@pytest.fixture
def one_connection_role(pg_admin_dsn: str) -> Iterator[str]:
    """The URL of a role allowed one connection at a time: the question at the bound, on a
    second connection, is refused by a server that is alive."""
    role = f"one_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 1").format(sql.Identifier(role))
        )
        try:
            parts = urlsplit(pg_admin_dsn)
            yield urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}"))
        finally:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_question_the_live_server_refuses_is_not_taken_for_a_frozen_server(
    one_connection_role: str,
) -> None:
    """The role may not open the question's connection (too many connections): the server
    answered, so it is alive; the call is waited for, even where a migration's would be for
    as long as it runs (``busy_rounds=None``)."""
    with open_bounded(
        one_connection_role, answer_timeout=0.3, while_running=True, busy_rounds=None
    ) as conn:
        assert conn.execute("SELECT pg_sleep(1.2), 9").fetchone() == ("", 9)


def test_a_call_not_known_to_run_is_waited_for_busy_rounds_at_most(
    one_connection_role: str,
) -> None:
    """No limit holds only while the server says it runs the call: a call it could not be
    asked about is given up after ``BUSY_ROUNDS`` bounds, saying why it was not known."""
    bound = 0.1
    with open_bounded(
        one_connection_role, answer_timeout=bound, while_running=True, busy_rounds=None
    ) as conn:
        started = time.monotonic()
        with pytest.raises(StillRunningError, match=r"not known: the question failed: .*too many"):
            conn.execute(f"SELECT pg_sleep({BUSY_ROUNDS * bound + 2:g})")
        assert time.monotonic() - started < BUSY_ROUNDS * bound + 1.5


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A URL whose server takes TCP connections and never answers (a frozen postmaster)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/postgres"


def test_a_question_no_one_answers_gives_the_call_up_without_a_grace(
    pg_admin_dsn: str, silent_server: str
) -> None:
    """The server cannot be asked (its question times out, as on a frozen postmaster): the
    call is given up at once, with no grace for an answer (only a server that says the call is
    done gets one)."""
    with open_bounded(pg_admin_dsn, answer_timeout=0.3, while_running=True) as conn:
        conn.server_dsn = silent_server  # the question goes to the silent one
        started = time.monotonic()
        with pytest.raises(NoAnswerError, match=r"no answer from the server within 0\.3 s"):
            conn.execute("SELECT pg_sleep(10)")
        elapsed = time.monotonic() - started
    assert 2 <= elapsed < 2 + ANSWER_GRACE  # the bound, the question's 2 s connect timeout
