"""One repository statement in one round trip, sent on psycopg's libpq layer.

``Connection.execute`` is built for any statement: a cursor per call, a query parsed per call,
``BEGIN`` before the first statement of a transaction, and a ``pipeline()`` whose Python
bookkeeping cost a savepointed write ~50 µs more than the bare statement. A repository
statement is simpler: it is fixed (composed once by ``statements``), so ``exchange`` sends it as
psycopg would, with psycopg's own adapters (``Transformer``: the same dumpers for jsonb, text[],
timestamptz, uuid, enums, the same loaders for the rows), but in one libpq pipeline holding
exactly the messages the call needs, answered by one ``Sync``:

- idle (no transaction) or autocommit: the statement alone, its own implicit transaction (no
  ``BEGIN``/``COMMIT``: PostgreSQL commits it at once);
- inside the caller's transaction: ``SAVEPOINT``, the statement, ``RELEASE``, so a refused call
  undoes only itself. A read too: it lets a read whose prepared statement the server dropped
  (a ``DEALLOCATE ALL`` psycopg or the caller sent) be prepared and sent again without
  aborting the caller's work. ``bench/calls.py`` measures what that costs a read (~20 µs of a
  65 µs ``get_by_id``) against the alternatives: a bare unnamed read (nothing to drop) pays
  its parse and plan on every call (~120 µs); a bare named read, re-prepared when psycopg may
  have deallocated, is not correct: psycopg only notices a ``DEALLOCATE ALL`` while it holds
  prepared statements of its own, so one the caller sends itself would abort the caller's
  transaction; and a prepared ``SAVEPOINT`` would be dropped with the rest.

A statement is prepared on a connection the first time it is sent there (its ``Parse`` rides in
the same round trip) and executed by name afterwards, as psycopg does after
``prepare_threshold`` executions; a connection with ``prepare_threshold = None`` (e.g. behind
PgBouncer in transaction mode) gets unnamed statements only. A failed message yields the very
exception ``Connection.execute`` would raise (``psycopg.errors.error_from_result``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache, partial
from itertools import count
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

import psycopg
from psycopg import errors
from psycopg.abc import PQGen
from psycopg.adapt import PyFormat, Transformer
from psycopg.generators import fetch_many, send
from psycopg.pq import ConnStatus, DiagnosticField, ExecStatus, PipelineStatus, TransactionStatus

from pytest_ampdb.postgres.convert import beyond_9999

COMMAND_OK = ExecStatus.COMMAND_OK
SQLSTATE = DiagnosticField.SQLSTATE
INTRANS = TransactionStatus.INTRANS

SAVEPOINT = b"SAVEPOINT ampdb_call"
RELEASE = b"RELEASE SAVEPOINT ampdb_call"

AnyConnection = psycopg.Connection[Any] | psycopg.AsyncConnection[Any]


class Result(NamedTuple):
    """What a statement gave back: its rows (all fetched, as tuples until the engine makes them
    stored rows) and how many rows it touched."""

    rows: list[Any]
    rowcount: int


_PLACEHOLDER = re.compile(rb"%(.)")


@cache
def numbered(query: bytes) -> bytes:
    """``query`` with psycopg's ``%s`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    count = 0

    def number(found: re.Match[bytes]) -> bytes:
        nonlocal count
        if found[1] == b"%":
            return b"%"
        if found[1] != b"s":
            raise ValueError(f"only %s placeholders are supported: {query!r}")
        count += 1
        return b"$%d" % count

    return _PLACEHOLDER.sub(number, query)


Key = tuple[bytes, tuple[int, ...]]
"""A prepared statement's query and parameter types."""


class _Session:
    """What ``exchange`` keeps per connection: the statements prepared there, and a
    ``Transformer`` (psycopg reuses a cursor's the same way) whose dumpers and loaders, looked
    up once per type, serve every later call (measured: ~7 µs of a 55 µs call), made anew if
    the client encoding changes (text dumpers and loaders hold it)."""

    def __init__(self, conn: AnyConnection, encoding: bytes | None) -> None:
        self.names: dict[Key, bytes] = {}
        self.tx = Transformer.from_context(conn)
        self.encoding = encoding


_sessions: WeakKeyDictionary[Any, _Session] = WeakKeyDictionary()

_names = count()
"""Statement names are never reused, so a ``Parse`` never meets a statement of ours by its name."""

_STATEMENT_GONE = "26000"
"""invalid_sql_statement_name: the server dropped our statements (psycopg sends ``DEALLOCATE ALL``
after a rollback once it has prepared statements of its own; so does ``DISCARD ALL``)."""


def _session(conn: AnyConnection) -> _Session:
    session = _sessions.get(conn)
    encoding = conn.pgconn.parameter_status(b"client_encoding")
    if session is None:
        session = _sessions[conn] = _Session(conn, encoding)
    elif session.encoding != encoding:
        session.tx, session.encoding = Transformer.from_context(conn), encoding
    return session


def usable(conn: AnyConnection) -> bool:
    """Whether ``exchange`` may drive ``conn`` now: open, and not in the caller's pipeline."""
    pgconn = conn.pgconn
    return pgconn.status == ConnStatus.OK and pgconn.pipeline_status == PipelineStatus.OFF


def savepointed(conn: AnyConnection) -> bool:
    """Whether a call on ``conn`` runs in a savepoint: inside the caller's transaction (then a
    refused call undoes only itself, and the caller's transaction goes on)."""
    return conn.pgconn.transaction_status == INTRANS


def exchange(conn: AnyConnection, query: bytes, args: Sequence[object]) -> PQGen[Result]:
    """The round trip of one statement, as a generator for ``conn.wait`` (sync or async).

    The caller holds ``conn.lock`` and has checked ``usable(conn)``. Idle or in autocommit the
    statement is its own transaction; inside the caller's transaction it is wrapped in
    ``SAVEPOINT``/``RELEASE``, and if it fails the savepoint is rolled back (a second round
    trip, on errors only) before the error is raised. If the server had dropped our prepared
    statements, they are forgotten and the call is sent once more, preparing it again.
    """
    pgconn = conn.pgconn
    session = _session(conn)
    tx = session.tx
    params = tx.dump_sequence(args, [PyFormat.AUTO] * len(args))
    wire = numbered(query)
    names = session.names if conn.prepare_threshold is not None else None
    key = (wire, tuple(tx.types or ()))
    savepoint = savepointed(conn)
    retried = False
    while True:
        messages = _Messages(pgconn, names)
        if savepoint:
            messages.add(SAVEPOINT)
        at = messages.run(key, params, tx.types, tx.formats)
        if savepoint:
            messages.run(_RELEASE_KEY)
        replies = yield from _round_trip(pgconn, messages.sends)
        if names is not None:
            for prepared, name, parsed in messages.fresh:
                if replies[parsed][0].status == COMMAND_OK:
                    names[prepared] = name  # prepared, even if the statement then failed
        failed = _failure(replies)
        if failed is None:
            break
        if savepoint:
            yield from _round_trip(
                pgconn, [partial(pgconn.send_query_params, q, None) for q in UNDO]
            )
        if not retried and names and failed.error_field(SQLSTATE) == _STATEMENT_GONE.encode():
            names.clear()
            retried = True
            continue
        raise errors.error_from_result(failed, encoding=conn.info.encoding)
    (found,) = replies[at]
    rows: list[Any] = []
    if found.status == ExecStatus.TUPLES_OK:
        tx.set_pgresult(found)
        try:
            rows = tx.load_rows(0, found.ntuples, tuple)
        except psycopg.DataError:  # a time past 9999 (any other refusal is raised again)
            rows = beyond_9999(conn, found)
    return Result(rows, found.command_tuples if found.command_tuples is not None else -1)


UNDO = (b"ROLLBACK TO SAVEPOINT ampdb_call", RELEASE)

_RELEASE_KEY: Key = (RELEASE, ())
"""``RELEASE`` is prepared too (it saves the server a parse, ~2 µs a call): if the server dropped
it, the call is undone by its savepoint and sent again. ``SAVEPOINT`` is not: dropped, it would
fail before there is a savepoint to go back to, aborting the caller's transaction."""


class _Messages:
    """The messages of one round trip, and the statements it prepares on the way."""

    def __init__(self, pgconn: Any, names: dict[Key, bytes] | None) -> None:
        self.pgconn = pgconn
        self.names = names
        self.sends: list[Callable[[], None]] = []
        self.fresh: list[tuple[Key, bytes, int]] = []
        """Each statement prepared here: its key, name and the index of its ``Parse``'s reply."""

    def add(self, query: bytes, params: Any = None, types: Any = None, formats: Any = None) -> int:
        """Send ``query`` (one without parameters: ``SAVEPOINT``) unnamed; its reply's index."""
        self.sends.append(partial(self.pgconn.send_query_params, query, params, types, formats))
        return len(self.sends) - 1

    def run(self, key: Key, params: Any = None, types: Any = None, formats: Any = None) -> int:
        """Run ``key``'s query: by name where names are kept (its ``Parse`` first when new),
        else unnamed; the index of its reply."""
        if self.names is None:
            return self.add(key[0], params, types, formats)
        name = self.names.get(key)
        if name is None:
            name = b"ampdb_%d" % next(_names)
            self.fresh.append((key, name, len(self.sends)))
            self.sends.append(partial(self.pgconn.send_prepare, name, key[0], types))
        self.sends.append(partial(self.pgconn.send_query_prepared, name, params, formats))
        return len(self.sends) - 1


def _round_trip(pgconn: Any, sends: Sequence[Callable[[], None]]) -> PQGen[list[list[Any]]]:
    """Send the messages in one libpq pipeline closed by a ``Sync``; each one's results."""
    pgconn.enter_pipeline_mode()
    try:
        for send_one in sends:
            send_one()
        pgconn.pipeline_sync()
        yield from send(pgconn)
        replies = []
        for _ in sends:
            replies.append((yield from fetch_many(pgconn)))
        yield from fetch_many(pgconn)  # the Sync
    except BaseException:
        _leave_pipeline(pgconn, broken=True)
        raise
    _leave_pipeline(pgconn, broken=False)
    return replies


def _failure(replies: Sequence[Sequence[Any]]) -> Any:
    """The first error among the replies (later messages of the pipeline were skipped)."""
    for reply in replies:
        for found in reply:
            if found.status == ExecStatus.FATAL_ERROR:
                return found
    return None


def _leave_pipeline(pgconn: Any, *, broken: bool) -> None:
    """Back to normal mode; after an interrupted exchange (results still pending) the
    connection cannot leave pipeline mode, and is closed rather than left half-way."""
    if pgconn.status != ConnStatus.OK:
        return
    try:
        pgconn.exit_pipeline_mode()
    except psycopg.OperationalError:
        if not broken:
            raise
        pgconn.finish()
