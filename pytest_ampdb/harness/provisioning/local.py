"""A throwaway (or deliberately kept) PostgreSQL cluster run from the local server binaries.

Why it is built this way:

* ``initdb`` costs 1-2.5 s, copying an initialised data directory 0.1-0.3 s, so ``initdb`` runs once
  per (binary version, options) into a cache guarded by a file lock, built in a staging directory
  and renamed into place only when complete; every cluster copies it.
* ``postgres`` is started directly (``pg_ctl`` polls every 100 ms) and readiness is polled every
  10 ms with a real connection: ready in a median 52 ms, as polling ``pg_isready`` (52 ms),
  where ``pg_ctl start -w`` takes 118 ms (``bench/cluster_readiness.py``, 15 starts each).
* initdb and postgres refuse to run as root: as root they run as the ``postgres`` system user and
  every file they touch is handed to it.
* The server listens on a private socket directory and a free port on 127.0.0.1 (so other drivers
  and subprocesses can connect over TCP), with durability settings off: a test database is thrown
  away, so fsync and friends only cost time.
* A cluster never outlives the interpreter (atexit), unless it was started persistent, in which
  case a state file lets a later run find it again (``attach_or_start``), which is what
  ``--ampdb-reuse`` builds on. Clusters whose owning process died without running atexit (SIGKILL)
  are swept by the next start.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import psycopg
from filelock import FileLock

from pytest_ampdb.harness.provisioning import lease as leases
from pytest_ampdb.harness.provisioning.binaries import PgBinaries, find_binaries
from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.harness.provisioning.server import project_key
from pytest_ampdb.logs import timed
from pytest_ampdb.postgres.errors import reason
from pytest_ampdb.waiting import wait_until

LOGGER = logging.getLogger(__name__)
SUPERUSER = "postgres"
"""The database superuser every cluster is initialised with (trust authentication)."""

# C.UTF-8: collation is plain code-point order (deterministic, no dependency on installed locales,
# and the same order Python's str comparison gives the memory backend), while character
# classification is UTF-8 aware, so upper()/lower()/ILIKE on non-ASCII text behave as in a
# production UTF-8 database. Where the C library has no C.UTF-8, ``--no-locale`` is used instead.
INITDB_OPTIONS: tuple[str, ...] = (
    f"--username={SUPERUSER}",
    "--auth=trust",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
    "--no-sync",
    # 1 MB WAL segments instead of 16 MB: the data directory every cluster copies shrinks by 40 %.
    "--wal-segsize=1",
)
_INITDB_FALLBACK: tuple[str, ...] = (
    f"--username={SUPERUSER}",
    "--auth=trust",
    "--encoding=UTF8",
    "--no-locale",
    "--no-sync",
    "--wal-segsize=1",
)

DEFAULT_SETTINGS: Mapping[str, str] = {
    # Durability buys nothing for a database that is thrown away.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # Less WAL for bulk loads and CREATE TABLE; no replication from a test cluster.
    "wal_level": "minimal",
    "max_wal_senders": "0",
    # A pool of 100 plus the tests' own connections.
    "max_connections": "200",
    "shared_buffers": "64MB",
    # JIT compilation only slows down the short queries tests run.
    "jit": "off",
    "TimeZone": "UTC",
    # Shared memory segments in the data directory, not /dev/shm: a killed server's go with it.
    "dynamic_shared_memory_type": "mmap",
    "listen_addresses": "127.0.0.1",
    "logging_collector": "off",
    "log_destination": "stderr",
    "log_line_prefix": "%m [%p] ",
}

STATE_FILE = "ampdb-cluster.json"
LOCK_FILE = "ampdb-cluster.lock"
LOG_FILE = "ampdb-server.log"
_INFO_FILE = "ampdb-initdb.json"
_CACHE_FORMAT = 1
_TEMP_PREFIX = "ampdb-pg-"
_SHM = Path("/dev/shm")
_SHM_MIN_FREE = 1 << 30
_PORT_TAKEN = ("could not create any TCP/IP sockets", "Address already in use")


# --------------------------------------------------------------------------- who runs the server


@dataclass(frozen=True)
class _RunAs:
    """The OS user initdb and postgres run as: the current one, or ``postgres`` under root."""

    uid: int | None
    gid: int | None
    name: str

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)

    def chown_tree(self, path: Path) -> None:
        if self.uid is None or self.gid is None:
            return
        os.chown(path, self.uid, self.gid)
        for dirpath, dirnames, filenames in os.walk(path):
            for name in (*dirnames, *filenames):
                os.lchown(os.path.join(dirpath, name), self.uid, self.gid)

    def check_reachable(self, path: Path) -> None:
        """Fail clearly when a parent directory is not searchable by the server's user."""
        if self.uid is None or self.gid is None:
            return
        groups = set(os.getgrouplist(self.name, self.gid))
        for parent in reversed(path.parents):
            st = os.stat(parent)
            if st.st_uid == self.uid:
                ok = st.st_mode & stat.S_IXUSR
            elif st.st_gid in groups:
                ok = st.st_mode & stat.S_IXGRP
            else:
                ok = st.st_mode & stat.S_IXOTH
            if not ok:
                raise ProvisioningError(
                    f"the {self.name!r} user that runs PostgreSQL cannot reach {path}: "
                    f"{parent} is not searchable by it (use a directory under "
                    f"{tempfile.gettempdir()} or chmod o+x {parent})"
                )


def _run_as() -> _RunAs:
    uid = os.geteuid()
    if uid != 0:
        return _RunAs(None, None, pwd.getpwuid(uid).pw_name)
    try:
        pw = pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise ProvisioningError(
            "running as root, and there is no 'postgres' system user to run PostgreSQL as "
            "(initdb and postgres refuse to run as root)"
        ) from None
    return _RunAs(pw.pw_uid, pw.pw_gid, pw.pw_name)


def _child_env() -> dict[str, str]:
    """The environment without PG* variables, which would redirect initdb or the server."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _popen(
    args: list[str], run_as: _RunAs, *, cwd: Path, log: int, new_session: bool
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        user=run_as.uid,
        group=run_as.gid,
        extra_groups=[] if run_as.uid is not None else None,
        start_new_session=new_session,
    )


# --------------------------------------------------------------------------- initdb cache


@dataclass(frozen=True)
class InitdbCache:
    """An initialised data directory that clusters copy; ``built`` says whether this call ran
    initdb (False: it was already there)."""

    key: str
    data_dir: Path
    options: tuple[str, ...]
    built: bool


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/pytest-ampdb/initdb``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-ampdb" / "initdb"


def cache_key(binaries: PgBinaries) -> str:
    """Hash of what the initialised directory depends on: the exact binaries and the options."""
    material = json.dumps(
        {
            "format": _CACHE_FORMAT,
            "bindir": str(binaries.bindir),
            "version": binaries.version_line or binaries.version,
            "options": INITDB_OPTIONS,
        },
        sort_keys=True,
    )
    return f"pg{binaries.major}-" + hashlib.sha256(material.encode()).hexdigest()[:16]


def ensure_initdb_cache(binaries: PgBinaries, *, cache_dir: Path | None = None) -> InitdbCache:
    """Return the cached initialised data directory for ``binaries``, building it once.

    Safe across processes (a file lock; the loser of the race finds it built) and against crashes
    (built in a staging directory, renamed into place only when complete).
    """
    root = (cache_dir or default_cache_dir()).resolve()
    key = cache_key(binaries)
    final = root / key
    cached = _read_cache(final, key)
    if cached is not None:
        return cached
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f"{key}.lock"), timeout=600):
        cached = _read_cache(final, key)
        if cached is not None:
            return cached
        if final.exists():  # incomplete leftovers of an older layout; never used
            shutil.rmtree(final)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
        try:
            options = _initdb_into(binaries, staging / "data")
            info = {"key": key, "version": binaries.version, "options": list(options)}
            (staging / _INFO_FILE).write_text(json.dumps(info))
            os.rename(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return InitdbCache(key=key, data_dir=final / "data", options=options, built=True)


def _read_cache(final: Path, key: str) -> InitdbCache | None:
    try:
        info = json.loads((final / _INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return InitdbCache(
        key=key, data_dir=final / "data", options=tuple(info["options"]), built=False
    )


def _initdb_into(binaries: PgBinaries, target: Path) -> tuple[str, ...]:
    """Run initdb (as the server's user, in a directory it can reach) and move the result to
    ``target``. Returns the options that worked."""
    run_as = _run_as()
    build = Path(tempfile.mkdtemp(prefix="ampdb-initdb-"))
    try:
        run_as.chown(build)
        run_as.check_reachable(build / "data")
        output = ""
        for options in (INITDB_OPTIONS, _INITDB_FALLBACK):
            data = build / "data"
            shutil.rmtree(data, ignore_errors=True)
            log_path = build / "initdb.log"
            with open(log_path, "wb") as log:
                run_as.chown(log_path)
                args = [str(binaries.initdb), "-D", str(data), *options]
                proc = _popen(args, run_as, cwd=build, log=log.fileno(), new_session=False)
                returncode = proc.wait()
            output = log_path.read_text(errors="replace")
            if returncode == 0:
                shutil.move(str(data), str(target))
                return options
            if "locale" not in output.lower():
                break
        raise ProvisioningError(f"initdb failed ({binaries.initdb}):\n{_tail(output)}")
    finally:
        shutil.rmtree(build, ignore_errors=True)


# --------------------------------------------------------------------------- processes


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_LIVE: set[LocalCluster] = set()
_REGISTRY_LOCK = threading.Lock()


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        _CHILDREN.pop(pid, None)
        return True
    return wait_until(lambda: True if not pid_alive(pid) else None, timeout=timeout) is not None


def process_tree(root: int) -> list[int]:
    """``root`` and everything forked below it, parents before children. A whole PostgreSQL
    cluster is its postmaster's tree, not its process group: each backend calls setsid()."""
    pids, i = [root], 0
    while i < len(pids):
        pid = pids[i]
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text()
            pids += [int(child) for child in children.split()]
        i += 1
    return pids


def _signal(pid: int, sig: signal.Signals, *, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _postmaster_pid(data_dir: Path) -> int | None:
    """The pid in ``postmaster.pid`` (None when the server is not running from ``data_dir``)."""
    try:
        return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _runs_from(pid: int, data_dir: Path) -> bool:
    """Whether process ``pid`` is a server running from ``data_dir`` (its working directory),
    not another process that got a dead postmaster's pid; where ``/proc`` cannot say, its
    being alive is taken for it."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd").removesuffix(" (deleted)")
    except FileNotFoundError:
        return pid_alive(pid) and not Path("/proc/self").exists()
    except OSError:  # another user's process: not one of ours
        return False
    return cwd == str(data_dir.resolve())


def free_port() -> int:
    """A port the kernel has just given a socket bound to 127.0.0.1 (a server that loses it
    meanwhile is retried on another, ``_PortTaken``).

    Kept over ``port-for``: 9 us a port and nothing to import, where ``port_for.select_random``
    takes 11 ms a port plus 35 ms of import on a 357 ms cluster start (``bench/port_finding.py``).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _socket_dsn(host: Path, port: int, dbname: str = "postgres") -> str:
    """A libpq URL of a cluster's database over its private Unix socket directory ``host``."""
    return (
        f"postgresql://{SUPERUSER}@/{quote(dbname, safe='')}"
        f"?host={quote(str(host), safe='/')}&port={port}"
    )


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _read_log(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _can_connect(dsn: str) -> bool:
    return _connect_error(dsn) is None


def _connect_error(dsn: str) -> psycopg.OperationalError | None:
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5):
            return None
    except psycopg.OperationalError as exc:
        return exc


_READY = "database system is ready to accept connections"
"""The server's log line once it takes connections: a connection libpq refuses itself after it
is a PG* variable of the environment's doing, which no wait cures."""


def _libpqs_doing(error: psycopg.OperationalError) -> bool:
    """libpq refused (no server's FATAL: still starting up, a restart) and the socket answered."""
    text = str(error)
    return "FATAL:" not in text and "Connection refused" not in text and "No such file" not in text


class _PortTaken(Exception):
    pass


# --------------------------------------------------------------------------- the cluster


class LocalCluster:
    """A running PostgreSQL server from local binaries; connect with ``dsn()`` or ``tcp_dsn()``.

    Create one with ``LocalCluster.start(...)`` or ``LocalCluster.attach_or_start(dir)``; stop it
    with ``stop()`` or by using it as a context manager.
    """

    def __init__(
        self,
        *,
        binaries: PgBinaries,
        root: Path,
        host: Path,
        port: int,
        pid: int,
        persistent: bool,
        owns_root: bool,
        settings: Mapping[str, str],
        initdb_built: bool = False,
        cache_data_dir: Path | None = None,
        attached: bool = False,
    ) -> None:
        self.binaries = binaries
        self.root = root
        self.data_dir = root / "data"
        self.log_file = self.data_dir / LOG_FILE
        self.host = host
        self.port = port
        self.user = SUPERUSER
        self.pid = pid
        self.persistent = persistent
        self.settings: Mapping[str, str] = dict(settings)
        self.initdb_built = initdb_built
        self.cache_data_dir = cache_data_dir
        self.attached = attached
        self._owns_root = owns_root
        self.lease: str | None = None
        """The id of the run whose lease this cluster holds (a throwaway cluster of a run)."""
        self._lease_hold: psycopg.Connection[Any] | None = None
        self._stopped = False
        self._lock = threading.Lock()

    # ---- public attributes and URLs

    @property
    def version(self) -> str:
        """The server version, e.g. ``15.18``."""
        return self.binaries.version

    @property
    def socket_path(self) -> Path:
        """The server's Unix socket file (gone once the server stopped)."""
        return self.host / f".s.PGSQL.{self.port}"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URL over the private Unix socket (what psycopg 3 connects with fastest)."""
        return _socket_dsn(self.host, self.port, dbname)

    def tcp_dsn(self, dbname: str = "postgres") -> str:
        """A libpq URL over TCP on 127.0.0.1, for drivers and subprocesses without socket access."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    @property
    def running(self) -> bool:
        """True while the server process runs."""
        return not self._stopped and pid_alive(self._postmaster())

    def _postmaster(self) -> int:
        """The postmaster running from the cluster's directory: the one it started, or the one a
        ``pg_ctl restart`` started in its place (``postmaster.pid`` names it)."""
        found = _postmaster_pid(self.data_dir)
        if found is not None and found != self.pid and _runs_from(found, self.data_dir):
            return found
        return self.pid

    def killed(self) -> bool:
        """True when the server is down for good: stopped by us, or its postmaster died without
        a shutdown (SIGKILL leaves ``postmaster.pid`` naming a dead process). A ``pg_ctl
        restart`` removes that file and writes a new one: no file, or a live pid, may be a
        restart in progress."""
        if self._stopped:
            return True
        pid = _postmaster_pid(self.data_dir)
        return pid is not None and not _runs_from(pid, self.data_dir)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"pid {self.pid}"
        return f"<LocalCluster PostgreSQL {self.version} {self.dsn()} ({state})>"

    # ---- starting

    @classmethod
    def start(
        cls,
        *,
        major: int = 15,
        base_dir: Path | None = None,
        port: int | None = None,
        extra_settings: Mapping[str, str] | None = None,
        persistent_dir: Path | None = None,
        cache_dir: Path | None = None,
        timeout: float = 30.0,
        lease: str | None = None,
    ) -> LocalCluster:
        """Start a new cluster and wait until it accepts connections.

        ``base_dir``: where the cluster's directory is created (default: ``default_base_dir()``);
        it is removed by ``stop()``. ``persistent_dir``: keep the cluster there instead, running
        past this interpreter, for ``attach_or_start`` to find again. ``port``: fixed, not free.
        ``extra_settings`` override ``DEFAULT_SETTINGS`` (passed as ``-c name=value``).
        ``cache_dir``: the initdb cache (default ``default_cache_dir()``). ``lease``: the id of
        the run starting a throwaway cluster, whose lease it holds on the cluster until ``stop()``
        (a later sweep judges the cluster by that lease, not by this process's id).
        """
        if persistent_dir is None:
            return cls._start(
                major=major,
                base_dir=base_dir,
                port=port,
                extra_settings=extra_settings,
                persistent_dir=None,
                cache_dir=cache_dir,
                timeout=timeout,
                lease=lease,
            )
        persistent_dir = persistent_dir.resolve()
        persistent_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(persistent_dir / LOCK_FILE), timeout=timeout + 600):
            running = cls._attach(persistent_dir)
            if running is not None:
                raise ProvisioningError(
                    f"a cluster already runs from {persistent_dir} (pid {running.pid}); "
                    "use LocalCluster.attach_or_start to reuse it"
                )
            return cls._start(
                major=major,
                base_dir=None,
                port=port,
                extra_settings=extra_settings,
                persistent_dir=persistent_dir,
                cache_dir=cache_dir,
                timeout=timeout,
            )

    @classmethod
    def attach_or_start(
        cls,
        persistent_dir: Path,
        *,
        major: int = 15,
        port: int | None = None,
        extra_settings: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        timeout: float = 30.0,
    ) -> LocalCluster:
        """Reuse the live cluster kept in ``persistent_dir``, else start one there (keeping its
        data directory, and so its databases, when one is left from an earlier run).

        A live cluster of another major, other settings or another port is stopped and started
        again.
        """
        persistent_dir = persistent_dir.resolve()
        persistent_dir.mkdir(parents=True, exist_ok=True)
        settings = _merge_settings(extra_settings)
        with FileLock(str(persistent_dir / LOCK_FILE), timeout=timeout + 600):
            found = cls._attach(persistent_dir)
            if found is not None:
                same_port = port is None or found.port == port
                if found.binaries.major == major and dict(found.settings) == settings and same_port:
                    return found
                found.stop()
            return cls._start(
                major=major,
                base_dir=None,
                port=port,
                extra_settings=extra_settings,
                persistent_dir=persistent_dir,
                cache_dir=cache_dir,
                timeout=timeout,
            )

    @classmethod
    def discard(cls, persistent_dir: Path, *, timeout: float = 30.0) -> None:
        """Stop the cluster kept in ``persistent_dir`` if it runs (never starting one) and
        remove the directory with its data (``--ampdb-recreate``, or cleaning up after reuse)."""
        persistent_dir = persistent_dir.resolve()
        if not persistent_dir.exists():
            return
        with FileLock(str(persistent_dir / LOCK_FILE), timeout=timeout + 600):
            found = cls._attach(persistent_dir)
            if found is not None:
                found.stop()
        shutil.rmtree(persistent_dir, ignore_errors=True)

    @classmethod
    def _attach(cls, persistent_dir: Path) -> LocalCluster | None:
        try:
            state: dict[str, Any] = json.loads((persistent_dir / STATE_FILE).read_text())
            pid = int(state["pid"])
            if _postmaster_pid(persistent_dir / "data") != pid or not pid_alive(pid):
                return None
            binaries = PgBinaries(
                bindir=Path(state["bindir"]),
                version=str(state["version"]),
                major=int(state["major"]),
                version_line=str(state.get("version_line", "")),
            )
            cluster = cls(
                binaries=binaries,
                root=persistent_dir,
                host=Path(state["host"]),
                port=int(state["port"]),
                pid=pid,
                persistent=True,
                owns_root=False,
                settings=dict(state.get("settings", {})),
                attached=True,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not _can_connect(cluster.dsn()):
            return None
        return cluster

    @classmethod
    def _start(
        cls,
        *,
        major: int,
        base_dir: Path | None,
        port: int | None,
        extra_settings: Mapping[str, str] | None,
        persistent_dir: Path | None,
        cache_dir: Path | None,
        timeout: float,
        lease: str | None = None,
    ) -> LocalCluster:
        with timed(LOGGER, "local cluster: find binaries"):
            binaries = find_binaries(major)
            run_as = _run_as()
        if persistent_dir is None and base_dir is None:
            sweep_orphans()

        with timed(LOGGER, "local cluster: initdb cache") as outcome:
            cache = ensure_initdb_cache(binaries, cache_dir=cache_dir)
            outcome.append("built" if cache.built else "reused")

        if persistent_dir is not None:
            root, owns_root = persistent_dir, False
            _clear_stale(persistent_dir)
        else:
            parent = base_dir.resolve() if base_dir is not None else None
            if parent is not None:
                parent.mkdir(parents=True, exist_ok=True)
            parent = parent or default_base_dir()
            root, owns_root = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=parent)), True
        data_dir = root / "data"
        try:
            with timed(LOGGER, f"local cluster: data directory {data_dir}") as outcome:
                run_as.chown(root)
                run_as.check_reachable(data_dir)
                if _pg_version_of(data_dir) != str(binaries.major):
                    shutil.rmtree(data_dir, ignore_errors=True)
                    shutil.copytree(cache.data_dir, data_dir, symlinks=True)
                    run_as.chown_tree(data_dir)
                    outcome.append("copied from the initdb cache")
                else:
                    outcome.append("kept")
            with timed(LOGGER, "local cluster: postgres start") as outcome:
                cluster = cls._launch(
                    binaries=binaries,
                    run_as=run_as,
                    root=root,
                    port=port,
                    settings=_merge_settings(extra_settings),
                    persistent=persistent_dir is not None,
                    timeout=timeout,
                )
                outcome.append(f"port {cluster.port}")
        except BaseException:
            if owns_root:
                shutil.rmtree(root, ignore_errors=True)
            raise
        cluster.initdb_built = cache.built
        cluster.cache_data_dir = cache.data_dir
        if lease is not None:  # held before the state file names it: no sweep sees it free
            try:
                cluster._lease_hold = leases.hold(cluster.dsn(), lease)
            except BaseException:
                cluster.stop()
                raise
            cluster.lease = lease
        cluster._write_state()
        if not cluster.persistent:
            with _REGISTRY_LOCK:
                _LIVE.add(cluster)
        return cluster

    @classmethod
    def _launch(
        cls,
        *,
        binaries: PgBinaries,
        run_as: _RunAs,
        root: Path,
        port: int | None,
        settings: Mapping[str, str],
        persistent: bool,
        timeout: float,
    ) -> LocalCluster:
        attempts = 1 if port is not None else 5
        for attempt in range(attempts):
            chosen = port if port is not None else free_port()
            # A short private directory: Unix socket paths are limited to ~107 bytes.
            host = Path(tempfile.mkdtemp(prefix="ampdb-sock-"))
            run_as.chown(host)
            cluster = cls(
                binaries=binaries,
                root=root,
                host=host,
                port=chosen,
                pid=0,
                persistent=persistent,
                owns_root=not persistent,
                settings=settings,
            )
            try:
                cluster._spawn_and_wait(run_as, timeout, last_attempt=attempt == attempts - 1)
            except _PortTaken:
                shutil.rmtree(host, ignore_errors=True)
                continue
            except BaseException:
                shutil.rmtree(host, ignore_errors=True)
                raise
            return cluster
        raise ProvisioningError("no free port found for PostgreSQL")  # pragma: no cover

    def _spawn_and_wait(self, run_as: _RunAs, timeout: float, *, last_attempt: bool) -> None:
        args = [
            str(self.binaries.postgres),
            "-D",
            str(self.data_dir),
            "-k",
            str(self.host),
            "-p",
            str(self.port),
        ]
        for name, value in self.settings.items():
            args += ["-c", f"{name}={value}"]
        with open(self.log_file, "ab") as log:
            run_as.chown(self.log_file)
            offset = log.tell()
            proc = _popen(args, run_as, cwd=self.data_dir, log=log.fileno(), new_session=True)
        self.pid = proc.pid
        _CHILDREN[proc.pid] = proc
        try:
            self._wait_ready(proc, offset, timeout, last_attempt=last_attempt)
        except BaseException:  # timeout, Ctrl-C: never leave a half-started server behind
            if proc.poll() is None:
                self._kill_hard(proc.pid)
            _CHILDREN.pop(proc.pid, None)
            raise

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], offset: int, timeout: float, *, last_attempt: bool
    ) -> None:

        def accepting() -> bool | None:
            returncode = proc.poll()
            if returncode is not None:
                output = _read_log(self.log_file, offset)
                if not last_attempt and any(m in output for m in _PORT_TAKEN):
                    raise _PortTaken
                raise ProvisioningError(
                    f"postgres exited with code {returncode} before accepting connections; "
                    f"last lines of {self.log_file}:\n{_tail(output)}"
                )
            if not self.socket_path.exists():
                return None
            error = _connect_error(self.dsn())
            if error is None:
                return True
            if _libpqs_doing(error) and _READY in _read_log(self.log_file, offset):
                raise ProvisioningError(
                    f"the local cluster it started runs, but libpq does not connect to it: "
                    f"{reason(error)} (a PG* variable of the environment, such as PGSERVICE, "
                    f"PGTARGETSESSIONATTRS, PGGSSENCMODE or PGREQUIREAUTH, applies to every "
                    f"connection: unset it for the run)"
                )
            return None

        if wait_until(accepting, timeout=timeout) is None:
            raise ProvisioningError(
                f"postgres did not accept connections within {timeout:g} s; "
                f"last lines of {self.log_file}:\n{_tail(_read_log(self.log_file, offset))}"
            )

    # ---- stopping

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (fast shutdown, then immediate, then SIGKILL) and remove its files
        (the data directory too, unless persistent). Safe to call more than once."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        with _REGISTRY_LOCK:
            _LIVE.discard(self)
        if self._lease_hold is not None:
            with contextlib.suppress(psycopg.Error):
                self._lease_hold.close()
            self._lease_hold = None
        pid = self._postmaster()
        ours = pid in _CHILDREN or _postmaster_pid(self.data_dir) == pid
        if pid and ours and pid_alive(pid):
            for frozen in process_tree(pid):  # a stopped (SIGSTOP) one would never see SIGINT
                _signal(frozen, signal.SIGCONT)
            _signal(pid, signal.SIGINT)  # fast shutdown: abort sessions, checkpoint, exit
            if not _wait_gone(pid, timeout):
                self._kill_hard(pid)
        _CHILDREN.pop(pid, None)
        shutil.rmtree(self.host, ignore_errors=True)
        if self.persistent:
            with contextlib.suppress(FileNotFoundError):
                (self.root / STATE_FILE).unlink()
        elif self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_hard(self, pid: int) -> None:
        _signal(pid, signal.SIGQUIT, group=True)  # immediate shutdown of postmaster and children
        if not _wait_gone(pid, 5):
            _signal(pid, signal.SIGKILL, group=True)
            _wait_gone(pid, 5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- state file

    def _write_state(self) -> None:
        state = {
            "pid": self.pid,
            "port": self.port,
            "host": str(self.host),
            "data_dir": str(self.data_dir),
            "bindir": str(self.binaries.bindir),
            "version": self.binaries.version,
            "version_line": self.binaries.version_line,
            "major": self.binaries.major,
            "settings": dict(self.settings),
            "persistent": self.persistent,
            "owner_pid": None if self.persistent else os.getpid(),
            "lease": self.lease,
        }
        tmp = self.root / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.root / STATE_FILE)


def _merge_settings(extra: Mapping[str, str] | None) -> dict[str, str]:
    settings = dict(DEFAULT_SETTINGS)
    extra = dict(extra or {})
    if "wal_level" in extra or "max_wal_senders" in extra:
        # Our minimal WAL requires no WAL senders; let the caller's choice win as a pair.
        settings.pop("wal_level")
        settings.pop("max_wal_senders")
    settings.update(extra)
    return settings


def _pg_version_of(data_dir: Path) -> str | None:
    try:
        return (data_dir / "PG_VERSION").read_text().strip()
    except OSError:
        return None


def _clear_stale(persistent_dir: Path) -> None:
    """Before (re)starting in a persistent directory: drop a dead server's socket directory and
    pid file (a recycled pid would make postgres refuse to start)."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        state = json.loads((persistent_dir / STATE_FILE).read_text())
        shutil.rmtree(state["host"], ignore_errors=True)
    pid = _postmaster_pid(persistent_dir / "data")
    if pid is not None and not pid_alive(pid):
        with contextlib.suppress(FileNotFoundError):
            (persistent_dir / "data" / "postmaster.pid").unlink()


def default_base_dir() -> Path:
    """Where throwaway clusters live: ``/dev/shm`` when it is a writable tmpfs with 1 GiB free,
    else the temp directory. Measured here, copying the cached data directory takes 0.06 s into
    tmpfs against 0.7 s onto the disk, and a throwaway database gains nothing from a disk."""
    try:
        usable = (
            _SHM.is_dir()
            and os.access(_SHM, os.W_OK | os.X_OK)
            and shutil.disk_usage(_SHM).free >= _SHM_MIN_FREE
        )
    except OSError:
        usable = False
    return _SHM if usable else Path(tempfile.gettempdir())


def sweep_orphans(temp_dir: Path | None = None) -> int:
    """Stop and remove temporary clusters whose owning process died without stopping them
    (killed before atexit ran). Returns how many were swept."""
    with timed(LOGGER, "local cluster: sweep of dead runs' clusters") as outcome:
        found = orphans(temp_dir)
        for orphan in found:
            orphan.remove()
        outcome.append(f"{len(found)} removed")
    return len(found)


@dataclass(frozen=True)
class LeftCluster:
    """A cluster directory the plugin left on this machine: kept by ``--ampdb-reuse``, or a
    throwaway one whose owning process died. ``pid`` is its running server, if any."""

    root: Path
    kind: str
    """``kept`` or ``orphaned``."""
    pid: int | None
    port: int | None

    @property
    def size(self) -> int:
        """Bytes in the directory (what removing it frees)."""
        total = 0
        for dirpath, _, filenames in os.walk(self.root):
            for name in filenames:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
        return total

    def admin_dsn(self) -> str | None:
        """A URL of its running server's maintenance database (None when it does not run)."""
        if self.pid is None:
            return None
        cluster = LocalCluster._attach(self.root)
        return None if cluster is None else cluster.dsn()

    def remove(self) -> None:
        """Stop its server (if it runs from this directory) and remove the directory."""
        if self.kind == "kept":
            LocalCluster.discard(self.root)
            return
        if self.pid is not None:
            _signal(self.pid, signal.SIGQUIT, group=True)
            if not _wait_gone(self.pid, 5):
                _signal(self.pid, signal.SIGKILL, group=True)
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            host = json.loads((self.root / STATE_FILE).read_text())["host"]
            shutil.rmtree(host, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _places(temp_dir: Path | None = None) -> list[Path]:
    """Where the plugin's cluster directories live: /dev/shm (when usable) and the temp dir."""
    if temp_dir is not None:
        return [temp_dir]
    return sorted({default_base_dir(), Path(tempfile.gettempdir())})


def _running_pid(root: Path, state: Mapping[str, Any]) -> int | None:
    try:
        pid = int(state["pid"])
    except (KeyError, TypeError, ValueError):
        return None
    return pid if _postmaster_pid(root / "data") == pid and pid_alive(pid) else None


def orphans(temp_dir: Path | None = None) -> list[LeftCluster]:
    """Throwaway clusters whose owner is gone (a live run's are never listed).

    A running cluster started for a run holds that run's lease (``lease.py``): it is its owner's
    while the lease is held, whatever this host's process ids say (a recycled pid, another PID
    namespace). Without a lease, or with the server not answering, the owning process decides.
    """
    found = []
    for place in _places(temp_dir):
        for root in sorted(place.glob(f"{_TEMP_PREFIX}*")):
            try:
                state = json.loads((root / STATE_FILE).read_text())
                owner = int(state["owner_pid"])
                running = _running_pid(root, state)
                lease = state.get("lease")
                dsn = _socket_dsn(Path(state["host"]), int(state["port"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            alive = None
            if running is not None and isinstance(lease, str):
                alive = leases.run_alive(dsn, lease, grace=0)
            if alive is None:
                alive = pid_alive(owner)
            if not alive:
                found.append(LeftCluster(root, "orphaned", running, None))
    return found


KEPT_PREFIX = "pytest-ampdb-reuse-"
"""Kept clusters live in ``<place>/pytest-ampdb-reuse-<project key>``."""


_KEPT_MARKS = (STATE_FILE, LOCK_FILE, f"data/{LOG_FILE}")
"""Files only the plugin writes into a kept cluster's directory (the state file goes when its
server stops; the lock and the server log stay with the data)."""


def kept_cluster_dir(project_root: Path) -> Path:
    """Where ``--ampdb-reuse`` keeps the cluster of the checkout at ``project_root``."""
    return default_base_dir() / f"{KEPT_PREFIX}{project_key(project_root)}"


def kept_clusters(keys: frozenset[str] | None = None) -> list[LeftCluster]:
    """Kept cluster directories (running or not) of the checkouts ``keys`` (None: all)."""
    found = []
    for place in _places():
        for root in sorted(place.glob(f"{KEPT_PREFIX}*")):
            if keys is not None and root.name.removeprefix(KEPT_PREFIX) not in keys:
                continue
            if not any((root / mark).exists() for mark in _KEPT_MARKS):
                continue  # our name without anything of ours inside: not ours
            try:
                state: dict[str, Any] = json.loads((root / STATE_FILE).read_text())
            except (OSError, ValueError):
                state = {}
            pid = _running_pid(root, state)
            port = int(state["port"]) if pid is not None and "port" in state else None
            found.append(LeftCluster(root, "kept", pid, port))
    return found


def discard_kept(project_root: Path) -> None:
    """Stop and remove the checkout's kept cluster, wherever it was kept (``--ampdb-recreate``)."""
    for kept in kept_clusters(frozenset({project_key(project_root)})):
        kept.remove()


def _stop_all() -> None:
    """atexit: no non-persistent cluster outlives the interpreter."""
    with _REGISTRY_LOCK:
        live = list(_LIVE)
    for cluster in live:
        with contextlib.suppress(Exception):
            cluster.stop()


atexit.register(_stop_all)
