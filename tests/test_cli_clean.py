"""``ampdb clean`` on a real server: what each checkout keeps is told apart by the plugin's mark,
a listing changes nothing, and bad usage or an unreachable server is one line."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from pytest_ampdb.cli import main
from pytest_ampdb.harness import kept
from pytest_ampdb.harness import template as tpl
from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.harness.provisioning.server import Server, project_key
from pytest_ampdb.ownership import birth_oid, create_marked, drop_database


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def server(pg_cluster: LocalCluster) -> Server:
    return Server(
        pg_cluster.dsn("postgres"), "dsn", "test server", version=pg_cluster.version, owned=False
    )


SERVER_ONLY = ("--what", "templates,databases")
"""What these cases clean: never the clusters or containers other suites on this machine use."""


def comment(server: Server, name: str) -> str | None:
    with tpl.admin(server) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    return None if row is None else str(row[0])


def test_keepers_are_read_and_written_in_the_ready_mark() -> None:
    assert kept.keepers(f"{tpl.READY} abc") == frozenset()
    assert kept.keepers(f"{tpl.READY} abc kept-by=0a,1b") == {"0a", "1b"}


def test_a_listing_changes_nothing_and_each_checkout_sees_its_own(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    template = tpl.ensure_template(server, "7" * 64, lambda dsn: None)
    template.release(server, drop=False)
    with tpl.admin(server) as conn:
        kept.keep_template(conn, template.name, project_key(mine))
        kept.keep_template(conn, template.name, project_key(theirs))
        conn.execute("CREATE DATABASE clean_kept_db")
        kept.mark_kept_for(conn, "clean_kept_db", project_key(theirs))
    before = comment(server, template.name)
    try:
        code, out, _ = run(
            capsys, "clean", "--list", "--root", str(mine), "--url", server.admin_dsn
        )
        assert code == 0
        assert f"would remove template {template.name} (kept by 2 checkouts" not in out
        assert f"left template {template.name} (kept by 2 checkouts" in out
        assert ": still kept by 1 other checkout" in out
        assert "clean_kept_db" not in out  # the other checkout's
        assert comment(server, template.name) == before
        code, out, _ = run(capsys, "clean", "--list", "--all", "--url", server.admin_dsn)
        assert f"would remove template {template.name} " in out
        assert "would remove kept database clean_kept_db (for a failed test, on " in out
        assert comment(server, template.name) == before
        assert comment(server, "clean_kept_db") is not None
        # this checkout lets go: the template stays for the other one, without our claim
        code, out, _ = run(
            capsys, "clean", *SERVER_ONLY, "--root", str(mine), "--url", server.admin_dsn
        )
        assert code == 0
        assert kept.keepers(comment(server, template.name) or "") == {project_key(theirs)}
        code, out, _ = run(
            capsys, "clean", *SERVER_ONLY, "--root", str(theirs), "--url", server.admin_dsn
        )
        assert f"removed template {template.name} " in out
        assert "removed kept database clean_kept_db " in out
        assert comment(server, template.name) is None
        assert comment(server, "clean_kept_db") is None
    finally:
        with tpl.admin(server) as conn:
            drop_database(conn, template.name)
            drop_database(conn, "clean_kept_db")


def test_bad_kinds_are_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "clean", "--what", "clusters,tables")
    assert (code, out) == (2, "")
    assert "invalid kind tables: expected clusters, containers, templates, databases" in err


def test_an_unreachable_server_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://u:s3cr3t@127.0.0.1:1/postgres?connect_timeout=2"
    code, out, err = run(capsys, "clean", "--list", "--what", "templates", "--url", url)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith("ampdb: error: cannot connect to postgresql://u:xxxxx@127.0.0.1:1/")
    assert "s3cr3t" not in err


def test_clean_reads_the_server_from_the_environment(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AMPDB_DSN", server.admin_dsn)
    with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE clean_env_db")
        kept.mark_kept_for(conn, "clean_env_db", project_key(tmp_path))
    try:
        code, out, _ = run(
            capsys, "clean", "--list", "--what", "databases", "--root", str(tmp_path)
        )
        assert code == 0
        assert "would remove kept database clean_env_db " in out
    finally:
        with tpl.admin(server) as conn:
            drop_database(conn, "clean_env_db")


def test_a_kept_cluster_directory_goes_by_its_mark_not_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_ampdb.harness.provisioning.local import LOCK_FILE, kept_cluster_dir

    ours, look_alike = tmp_path / "ours", tmp_path / "look-alike"
    left = kept_cluster_dir(ours)  # what a stopped kept cluster leaves: data, lock, no server
    (left / "data").mkdir(parents=True)
    (left / LOCK_FILE).touch()
    (left / "data" / "base").write_bytes(b"x" * 3_000_000)
    user = kept_cluster_dir(look_alike)  # our name, nothing of ours inside
    user.mkdir(parents=True)
    (user / "mine.txt").write_text("precious")
    try:
        code, out, _ = run(capsys, "clean", "--what", "clusters", "--root", str(ours))
        assert code == 0
        assert f"removed kept local cluster {left} (not running, 3 MB)" in out
        assert not left.exists()
        code, out, _ = run(capsys, "clean", "--what", "clusters", "--root", str(look_alike))
        assert str(user) not in out
        assert (user / "mine.txt").read_text() == "precious"
    finally:
        shutil.rmtree(left, ignore_errors=True)
        shutil.rmtree(user, ignore_errors=True)


def test_a_dead_runs_databases_are_swept_and_a_live_runs_are_not(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tpl.ensure_template(server, "6" * 64, lambda dsn: None)
    template.lease("a1a1a1")  # a live run: it holds its lease on the server while it runs
    live = tpl.run_prefix("a1a1a1", "main") + "1"
    dead = tpl.run_prefix("d0d0d0", "main") + "1"  # its run is gone: nobody holds its lease
    try:
        with tpl.admin(server) as conn:
            tpl.clone(conn, template.name, live, "FILE_COPY", "a1a1a1")
            tpl.clone(conn, template.name, dead, "FILE_COPY", "d0d0d0")
        args = ("clean", "--what", "databases", "--root", str(tmp_path), "--url", server.admin_dsn)
        code, out, _ = run(capsys, *args[:1], "--list", *args[1:])
        assert code == 0
        assert f"would remove dead run's database {dead} (on " in out
        assert live not in out
        assert comment(server, dead) is not None  # a listing drops nothing
        code, out, _ = run(capsys, *args)
        assert f"removed dead run's database {dead} (on " in out
        assert comment(server, dead) is None
        assert comment(server, live) is not None
    finally:
        with tpl.admin(server) as conn:
            drop_database(conn, live)
            drop_database(conn, dead)
        template.release(server, drop=True)


def test_half_built_templates_go_by_their_mark_unless_a_run_is_building_one(
    server: Server, fresh_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run killed while building a template leaves ``ampdb_tpl_..._build``: clean drops it
    when it carries our building mark (or our birth OID), never a user's database of that name,
    never one a run connected through another database is building now."""
    left = tpl.TEMPLATE_PREFIX + "1" * 16 + tpl.BUILD_SUFFIX
    unmarked = tpl.TEMPLATE_PREFIX + "2" * 16 + tpl.BUILD_SUFFIX  # killed before the comment
    users = tpl.TEMPLATE_PREFIX + "3" * 16 + tpl.BUILD_SUFFIX
    with tpl.admin(server) as conn:
        create_marked(conn, left, f"{tpl.BUILDING} {'1' * 64}")
        conn.execute(f'CREATE DATABASE "{unmarked}" OID {birth_oid(unmarked)}')
        conn.execute(f'CREATE DATABASE "{users}"')
    building, finish = threading.Event(), threading.Event()

    def slow_build(dsn: str) -> None:
        building.set()
        assert finish.wait(30)

    elsewhere = Server(fresh_database, "dsn", "same server, other database", owned=False)
    made: list[tpl.Template] = []
    run_building = threading.Thread(
        target=lambda: made.append(tpl.ensure_template(elsewhere, "4" * 64, slow_build))
    )
    run_building.start()
    in_progress = tpl.TEMPLATE_PREFIX + "4" * 16 + tpl.BUILD_SUFFIX
    args = ("clean", "--what", "templates", "--root", str(tmp_path), "--url", server.admin_dsn)
    try:
        assert building.wait(10)
        code, out, _ = run(capsys, *args[:1], "--list", *args[1:])
        assert code == 0
        assert f"would remove half-built template {left} (on " in out
        assert f"would remove half-built template {unmarked} (" in out
        assert f"left half-built template {in_progress} (on " in out
        assert ": a run is building it now" in out
        assert f"left database {users} (on " in out
        assert comment(server, left) is not None  # a listing drops nothing
        code, out, _ = run(capsys, *args)
        assert code == 0
        assert f"removed half-built template {left} (" in out
        assert f"removed half-built template {unmarked} (" in out
        assert f"left half-built template {in_progress} (" in out
        assert f"left database {users} (on " in out
        assert (comment(server, left), comment(server, unmarked)) == (None, None)
        assert comment(server, users) is not None  # a user's: untouched
        assert comment(server, in_progress) is not None
    finally:
        finish.set()
        run_building.join()
        with tpl.admin(server) as conn:
            drop_database(conn, users)
    assert len(made) == 1
    assert comment(server, made[0].name) is not None  # the build went on to the end
    assert made[0].reused is False
    made[0].release(elsewhere, drop=True)


def test_the_clean_hint_says_its_url_lacks_the_password() -> None:
    """The summary's command for kept databases shows the URL redacted: copied as printed it
    would fail to log in, so it says which URL to give instead."""
    from pytest_ampdb.harness.kept import clean_hint

    hint = clean_hint("postgresql://app:s3cretpw@db/postgres", Path("/srv/app"))
    assert "s3cretpw" not in hint
    assert "--url postgresql://app:xxxxx@db/postgres (give the URL the run was given" in hint
    plain = clean_hint("postgresql://app@db/postgres", Path("/srv/app"))
    assert plain.endswith("--url postgresql://app@db/postgres")
