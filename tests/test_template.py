"""Template databases on a real server: built once, never dropped under another run's feet."""

from __future__ import annotations

import threading

import psycopg
import pytest

from pytest_ampdb.harness import kept
from pytest_ampdb.harness import template as tpl
from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.harness.provisioning.server import Server


@pytest.fixture
def server(pg_cluster: LocalCluster) -> Server:
    return Server(
        pg_cluster.dsn("postgres"), "dsn", "test server", version=pg_cluster.version, owned=False
    )


def databases(server: Server) -> set[str]:
    with tpl.admin(server) as conn:
        return {str(r[0]) for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


def one_table(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int)")


def test_the_last_run_using_a_template_drops_it(server: Server) -> None:
    first = tpl.ensure_template(server, "a" * 64, one_table)
    second = tpl.ensure_template(server, "a" * 64, one_table)
    assert (first.reused, second.reused) == (False, True)
    assert first.release(server, drop=True) is False  # the second run still clones from it
    assert first.name in databases(server)
    assert second.release(server, drop=True) is True
    assert first.name not in databases(server)


def test_concurrent_starts_build_once_and_a_failed_build_leaves_nothing(server: Server) -> None:
    builds: list[str] = []

    def build(dsn: str) -> None:
        builds.append(dsn)
        one_table(dsn)

    results: list[tpl.Template] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(tpl.ensure_template(server, "b" * 64, build))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert sorted(r.reused for r in results) == [False, True, True, True]
    for result in results:
        result.release(server, drop=True)
    assert results[0].name not in databases(server)

    def broken(dsn: str) -> None:
        one_table(dsn)
        raise RuntimeError("migration failed halfway")

    with pytest.raises(RuntimeError):
        tpl.ensure_template(server, "c" * 64, broken)
    assert not {n for n in databases(server) if n.startswith(tpl.TEMPLATE_PREFIX + "c")}


def test_prune_keeps_the_current_template_those_in_use_and_other_checkouts(
    server: Server,
) -> None:
    old = tpl.ensure_template(server, "d" * 64, one_table)
    busy = tpl.ensure_template(server, "e" * 64, one_table)
    current = tpl.ensure_template(server, "f" * 64, one_table)
    theirs = tpl.ensure_template(server, "9" * 64, one_table)
    with tpl.admin(server) as conn:
        for template in (old, busy, current):
            kept.keep_template(conn, template.name, "aaaaaaaaaaaa")
        kept.keep_template(conn, theirs.name, "bbbbbbbbbbbb")  # another checkout's
    old.release(server, drop=False)  # a finished --ampdb-reuse run left it
    theirs.release(server, drop=False)
    with tpl.admin(server) as conn:
        dropped = kept.prune(conn, current.name, "aaaaaaaaaaaa")
    assert old.name in dropped  # (unclaimed templates of other tests on this server may go too)
    assert busy.name not in dropped
    assert current.name not in dropped
    assert theirs.name not in dropped
    assert {busy.name, current.name, theirs.name} <= databases(server)
    with tpl.admin(server) as conn:  # the other checkout lets go of it: now it goes
        assert kept.let_go(conn, theirs.name, frozenset({"bbbbbbbbbbbb"})) == "dropped"
    for template in (busy, current):
        template.release(server, drop=True)


def test_runs_connected_through_different_databases_build_one_template_once(
    server: Server, pg_cluster: LocalCluster, fresh_database: str
) -> None:
    """An advisory lock is per database: the build lock is taken server-wide, so a run whose
    URL names another database waits for the build instead of dropping it midway."""
    elsewhere = Server(fresh_database, "dsn", "same server, other database", owned=False)
    building = threading.Event()
    builds: list[str] = []

    def slow_build(dsn: str) -> None:
        builds.append(dsn)
        building.set()
        one_table(dsn)
        threading.Event().wait(0.5)  # the other run arrives meanwhile

    results: dict[str, tpl.Template] = {}
    errors: list[BaseException] = []

    def start(label: str, where: Server) -> None:
        try:
            results[label] = tpl.ensure_template(where, "f" * 64, slow_build)
        except BaseException as exc:  # handed to the assertions below
            errors.append(exc)

    first = threading.Thread(target=start, args=("first", server))
    first.start()
    assert building.wait(10)
    start("second", elsewhere)
    first.join()
    assert errors == []
    assert len(builds) == 1
    assert (results["first"].reused, results["second"].reused) == (False, True)
    with psycopg.connect(server.dsn(results["first"].name)) as conn:  # the whole build
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    results["second"].release(elsewhere, drop=True)
    assert results["first"].release(server, drop=True) is True
    assert results["first"].name not in databases(server)
