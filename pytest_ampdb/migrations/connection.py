"""Open the connection the engine works on, from a URL or an existing psycopg connection.

Atlas URLs may carry ``search_path=<schema>`` to bind the connection to one schema (which then
also holds the revisions table); libpq does not know that parameter, so it is turned into a
server option here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg

from pytest_ampdb.answers import BUSY_ROUNDS, open_bounded

Connection = psycopg.Connection[Any]


@dataclass(frozen=True)
class Target:
    """A conninfo libpq accepts, and the schema the URL is bound to (None if not bound)."""

    conninfo: str
    schema: str | None


def parse_target(url: str) -> Target:
    """Split Atlas's ``search_path`` query parameter off a ``postgres://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.query:
        return Target(url, None)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = None
    kept: list[tuple[str, str]] = []
    for key, value in query:
        if key == "search_path":
            schema = value or None
        else:
            kept.append((key, value))
    if schema is None:
        return Target(url, None)
    options = next((v for k, v in kept if k == "options"), "")
    kept = [(k, v) for k, v in kept if k != "options"]
    kept.append(("options", f"{options} -c search_path={schema}".strip()))
    return Target(
        urlunsplit(parts._replace(query=urlencode(kept, quote_via=quote, safe="/"))), schema
    )


@contextlib.contextmanager
def open_connection(
    target: str | Connection,
    *,
    answer_timeout: float | None = None,
    migrates: bool = False,
) -> Iterator[tuple[Connection, str | None]]:
    """Yield an autocommit connection and its bound schema; close it only if opened here.

    A URL is opened with ``answer_timeout`` (None: unbounded): a call the server has not
    answered within it makes the server be asked whether it still runs the call; one it does
    not (a frozen server) ends in ``answers.NoAnswerError``, one it runs is waited for up to
    ``answers.BUSY_ROUNDS`` bounds, or, where the connection ``migrates`` (runs migration
    files), for as long as the server says it runs it (a statement may rightly take hours).

    A caller's connection is used as it is (its own bounds, if any) and switched to autocommit
    for the duration (it must be idle) so the engine's own ``transaction()`` blocks are real
    transactions, and restored afterwards.
    """
    if isinstance(target, str):
        parsed = parse_target(target)
        conn = open_bounded(
            parsed.conninfo,
            answer_timeout=answer_timeout,
            while_running=True,
            busy_rounds=None if migrates else BUSY_ROUNDS,
            autocommit=True,
        )
        try:
            yield conn, parsed.schema
        finally:
            conn.close()
        return
    previous = target.autocommit
    if not previous:
        target.autocommit = True
    try:
        yield target, None
    finally:
        if not previous and not target.closed:
            target.autocommit = False
