"""Bounded connections (``pytest_ampdb.answers``) on a live server: a call past the bound that
the server still runs is waited for, one it has just finished is not taken for a frozen server,
and a call the server never took is given up at the bound."""

from __future__ import annotations

import time

import pytest

from pytest_ampdb.answers import ANSWER_GRACE, BoundedConnection, NoAnswerError, open_bounded


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

    def after_the_call(self: BoundedConnection, limit: float) -> tuple[str | None, float]:
        time.sleep(1.0)  # the call (0.6 s) ends meanwhile: the server would say "idle"
        asked.append(limit)
        return None, ANSWER_GRACE

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
