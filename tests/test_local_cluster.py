"""The local PostgreSQL cluster: what the test suite and ``--ampdb-reuse`` rely on."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.harness.provisioning import (
    BinariesNotFoundError,
    LocalCluster,
    ProvisioningError,
    default_base_dir,
    ensure_initdb_cache,
    find_binaries,
    sweep_orphans,
)
from pytest_ampdb.harness.provisioning import local as local_module

PROJECT_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.postgres  # real PostgreSQL 15 clusters


def _gone(pid: int) -> bool:
    return not local_module.pid_alive(pid)


def _run_python(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter that imports this checkout; return the JSON it prints."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A directory the ``postgres`` user can reach (pytest's tmp_path sits under a root-only
    directory when running as root), where clusters live by default (tmpfs when there is one)."""
    path = Path(tempfile.mkdtemp(prefix="ampdb-test-", dir=default_base_dir()))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_binaries_of_major_15_are_found() -> None:
    binaries = find_binaries(15)
    assert binaries.major == 15
    assert binaries.version.split(".")[0] == "15"
    assert binaries.version.split(".")[1].isdigit()
    assert binaries.postgres.is_file()
    assert binaries.initdb.is_file()


def test_missing_major_names_every_place_looked() -> None:
    with pytest.raises(BinariesNotFoundError) as info:
        find_binaries(99)
    message = str(info.value)
    assert isinstance(info.value, AmpdbError)
    assert "PostgreSQL 99" in message
    assert "PATH" in message
    assert "pg_config --bindir" in message
    assert "/usr/lib/postgresql/99/bin" in message
    # The version that is installed is named, with where it was found.
    assert f"holds PostgreSQL {find_binaries(15).version}, not 99" in message


def test_cluster_runs_postgres_15_with_durability_off(pg_cluster: LocalCluster) -> None:
    with psycopg.connect(pg_cluster.dsn()) as conn:
        version, num = conn.execute(
            "select version(), current_setting('server_version_num')::int"
        ).fetchone() or ("", 0)
        settings: dict[str, str] = dict(
            conn.execute(
                "select name, setting from pg_settings where name = any(%s)",
                (["fsync", "synchronous_commit", "full_page_writes", "max_connections"],),
            ).fetchall()
        )
    assert version.startswith("PostgreSQL 15.")
    assert num // 10000 == 15
    assert pg_cluster.version == version.split()[1]
    assert settings["fsync"] == "off"
    assert settings["synchronous_commit"] == "off"
    assert settings["full_page_writes"] == "off"
    assert int(settings["max_connections"]) >= 200
    assert pg_cluster.user == "postgres"
    assert pg_cluster.dsn("x").startswith("postgresql://postgres@/x?host=")


def test_tcp_dsn_reaches_the_same_server(pg_cluster: LocalCluster) -> None:
    with psycopg.connect(pg_cluster.tcp_dsn()) as conn:
        row = conn.execute("select inet_server_addr()::text, inet_server_port()").fetchone()
    assert row == ("127.0.0.1/32", pg_cluster.port)


def test_fresh_database_is_empty_and_separate(fresh_database: str, pg_admin_dsn: str) -> None:
    with psycopg.connect(fresh_database) as conn:
        conn.execute("create table t (id int)")
        tables = conn.execute(
            "select count(*) from pg_tables where schemaname = 'public'"
        ).fetchone()
    assert tables == (1,)
    with psycopg.connect(pg_admin_dsn) as conn:
        names = conn.execute("select datname from pg_database").fetchall()
    assert (conninfo_to_dict(fresh_database)["dbname"],) in names


def test_two_clusters_run_at_once(pg_cluster: LocalCluster) -> None:
    with LocalCluster.start(extra_settings={"work_mem": "7MB"}) as other:
        assert other.port != pg_cluster.port
        assert other.host != pg_cluster.host
        with psycopg.connect(other.dsn(), autocommit=True) as conn:
            conn.execute("create database only_in_other")
            assert conn.execute("show work_mem").fetchone() == ("7MB",)
        with psycopg.connect(pg_cluster.dsn()) as conn:
            names = {r[0] for r in conn.execute("select datname from pg_database").fetchall()}
            assert conn.execute("show work_mem").fetchone() != ("7MB",)
        assert "only_in_other" not in names
        assert not other.initdb_built  # the session cluster left the cache built


def test_initdb_cache_is_built_once(short_tmp: Path) -> None:
    cache_dir = short_tmp / "cache"
    binaries = find_binaries(15)
    results = []

    def build() -> None:
        results.append(ensure_initdb_cache(binaries, cache_dir=cache_dir))

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.built for r in results) == [False, True]
    assert results[0].data_dir == results[1].data_dir
    marker = results[0].data_dir / "PG_VERSION"
    built_at = marker.stat().st_mtime_ns

    with LocalCluster.start(cache_dir=cache_dir) as cluster:
        assert not cluster.initdb_built
        assert cluster.cache_data_dir == results[0].data_dir
        assert cluster.data_dir != results[0].data_dir
        with psycopg.connect(cluster.dsn()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    assert marker.stat().st_mtime_ns == built_at
    # Only the finished directory is left: no staging leftovers.
    assert sorted(p.name for p in cache_dir.iterdir() if p.is_dir()) == [results[0].key]


def test_stop_ends_the_server_and_is_idempotent(short_tmp: Path) -> None:
    cluster = LocalCluster.start(base_dir=short_tmp)
    pid, socket_path, root = cluster.pid, cluster.socket_path, cluster.root
    assert socket_path.exists()
    assert root.parent == short_tmp
    cluster.stop()
    assert _gone(pid)
    assert not socket_path.exists()
    assert not root.exists()
    cluster.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(cluster.tcp_dsn(), connect_timeout=2)


def test_cluster_does_not_outlive_the_interpreter() -> None:
    info = _run_python(
        """
        import json
        from pytest_ampdb.harness.provisioning import LocalCluster
        c = LocalCluster.start()
        print(json.dumps({"pid": c.pid, "socket": str(c.socket_path), "root": str(c.root)}))
        """
    )
    assert isinstance(info["pid"], int)
    assert _gone(info["pid"])
    assert not Path(str(info["socket"])).exists()
    assert not Path(str(info["root"])).exists()


def test_orphan_of_a_killed_interpreter_is_swept() -> None:
    info = _run_python(
        """
        import json, os, sys
        from pytest_ampdb.harness.provisioning import LocalCluster
        c = LocalCluster.start()
        print(json.dumps({"pid": c.pid, "root": str(c.root)}))
        sys.stdout.flush()
        os._exit(0)  # no atexit, as when killed
        """
    )
    assert isinstance(info["pid"], int)
    assert not _gone(info["pid"])
    sweep_orphans()  # (under xdist another worker's start may sweep it first: same outcome)
    assert _gone(info["pid"])
    assert not Path(str(info["root"])).exists()


def test_a_runs_cluster_is_judged_by_its_lease_not_by_a_process_id(short_tmp: Path) -> None:
    """A cluster a run started holds the run's lease; a sweep asks the server whether it is
    held, so a recycled or foreign process id neither saves a dead run's cluster nor condemns
    a live one's."""
    cluster = LocalCluster.start(base_dir=short_tmp, lease="a1b2c3")
    state_file = cluster.root / local_module.STATE_FILE
    state = json.loads(state_file.read_text())
    assert state["lease"] == "a1b2c3"
    dead_pid = subprocess.Popen(["true"])  # a process id that is gone now
    dead_pid.wait()
    try:
        # its owner's process id is gone (another PID namespace, say), its lease is held
        state_file.write_text(json.dumps({**state, "owner_pid": dead_pid.pid}))
        assert cluster.root not in [o.root for o in local_module.orphans(short_tmp)]
        # a live process id (ours), but the lease it names is held by nobody
        state_file.write_text(json.dumps({**state, "owner_pid": os.getpid(), "lease": "d0d0d0"}))
        assert [o.root for o in local_module.orphans(short_tmp)] == [cluster.root]
        assert sweep_orphans(short_tmp) == 1
        assert _gone(cluster.pid)
        assert not cluster.root.exists()
    finally:
        cluster.stop()


def test_persistent_cluster_is_found_again_then_stopped(short_tmp: Path) -> None:
    keep = short_tmp / "keep"
    info = _run_python(
        f"""
        import json
        from pathlib import Path
        import psycopg
        from pytest_ampdb.harness.provisioning import LocalCluster
        c = LocalCluster.attach_or_start(Path({str(keep)!r}))
        with psycopg.connect(c.dsn(), autocommit=True) as conn:
            conn.execute("create database kept")
        print(json.dumps({{"pid": c.pid, "port": c.port, "attached": c.attached}}))
        """
    )
    assert info["attached"] is False
    assert isinstance(info["pid"], int)
    pid = info["pid"]
    try:
        assert not _gone(pid)  # outlived its interpreter
        with pytest.raises(ProvisioningError, match="already runs"):
            LocalCluster.start(persistent_dir=keep)
        again = LocalCluster.attach_or_start(keep)
        assert again.attached
        assert (again.pid, again.port) == (pid, info["port"])
        with psycopg.connect(again.dsn()) as conn:
            assert conn.execute("select 1 from pg_database where datname = 'kept'").fetchone()
        again.stop()
        assert _gone(pid)

        restarted = LocalCluster.attach_or_start(keep)
        try:
            assert not restarted.attached
            assert restarted.pid != pid
            with psycopg.connect(restarted.dsn()) as conn:  # data kept across restarts
                assert conn.execute("select 1 from pg_database where datname = 'kept'").fetchone()
        finally:
            restarted.stop()
        assert _gone(restarted.pid)
        assert not (keep / local_module.STATE_FILE).exists()
    finally:
        if not _gone(pid):
            os.kill(pid, 9)


def test_failed_start_reports_the_server_log_and_cleans_up(short_tmp: Path) -> None:
    with pytest.raises(ProvisioningError) as info:
        LocalCluster.start(base_dir=short_tmp, extra_settings={"shared_buffers": "lots"})
    assert "postgres exited" in str(info.value)
    assert "shared_buffers" in str(info.value)  # the log tail names the bad setting
    assert list(short_tmp.iterdir()) == []


def test_start_timeout_kills_the_half_started_server(short_tmp: Path) -> None:
    with pytest.raises(ProvisioningError, match="did not accept connections within 0 s"):
        LocalCluster.start(base_dir=short_tmp, timeout=0)
    assert list(short_tmp.iterdir()) == []
    cmdlines = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            cmdlines.append((proc / "cmdline").read_bytes())
    assert not [c for c in cmdlines if str(short_tmp).encode() in c]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to another user")
def test_base_dir_the_postgres_user_cannot_reach_is_a_clear_error(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(ProvisioningError, match=r"'postgres' user .* cannot reach") as info:
        LocalCluster.start(base_dir=private / "clusters")
    assert str(private) in str(info.value)
    assert list((private / "clusters").iterdir()) == []


def test_taken_port_is_retried(pg_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    ports = iter([pg_cluster.port])
    real_free_port = local_module.free_port
    monkeypatch.setattr(local_module, "free_port", lambda: next(ports, None) or real_free_port())
    with LocalCluster.start() as cluster:
        assert cluster.port != pg_cluster.port
        with psycopg.connect(cluster.tcp_dsn()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)


def test_fixed_port_in_use_is_a_clear_error(pg_cluster: LocalCluster) -> None:
    with pytest.raises(ProvisioningError, match="Address already in use"):
        LocalCluster.start(port=pg_cluster.port)


def test_discard_stops_a_kept_cluster_and_never_starts_one(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep = short_tmp / "discard"
    kept = LocalCluster.attach_or_start(keep)
    pid = kept.pid
    stopped = short_tmp / "stopped"
    LocalCluster.attach_or_start(stopped).stop()  # a kept directory with no server running

    def no_start(*args: object, **kwargs: object) -> None:
        raise AssertionError("discard started a cluster")

    monkeypatch.setattr(LocalCluster, "_start", no_start)
    LocalCluster.discard(keep)
    assert _gone(pid)
    assert not keep.exists()
    LocalCluster.discard(stopped)
    assert not stopped.exists()
    LocalCluster.discard(short_tmp / "never-made")  # nothing there: nothing to do
