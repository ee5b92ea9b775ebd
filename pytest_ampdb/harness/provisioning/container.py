"""A throwaway (or deliberately kept) PostgreSQL server in a Docker container.

Why it is built this way:

* testcontainers' public ``DockerContainer`` starts it with the postgres image's own variables
  (credentials, port mapping), and readiness is polled every 100 ms (``PostgresContainer`` polls
  once a second), with the container's state checked on each poll so a server that exits fails
  at once with its log.
* No image registry may be reachable: an image missing locally gets one pull attempt, bounded in
  time, then a one-line error saying how to get one (``scripts/docker-setup`` builds a compatible
  ``postgres:15`` from Debian's packages).
* Ryuk, testcontainers' reaper, cannot run when its image is missing, so then it is disabled and
  the plugin cleans up after itself: every container carries labels naming its owner (pid, pid
  start time, host, and the run whose lease its server holds) and project; ``release()``, an
  atexit hook and a SIGTERM hook remove it; and each start sweeps containers whose run is gone
  without any of those running (SIGKILL): by the lease where the server answers, on any host,
  else by the owner process on this host.
* ``reuse=True`` keeps one container per project root (named after it) for the next run, which
  finds it running, starts it when stopped, and replaces it when the image or settings changed;
  ``recreate=True`` throws it away first. A file lock keeps concurrent runs (xdist workers) from
  creating it twice.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import secrets
import shlex
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote

import psycopg
from filelock import FileLock, Timeout

from pytest_ampdb.answers import open_bounded
from pytest_ampdb.harness.provisioning import lease as leases
from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.harness.provisioning.local import free_port
from pytest_ampdb.harness.provisioning.server import Server, project_key
from pytest_ampdb.modes import ServerSource
from pytest_ampdb.waiting import wait_until

DEFAULT_IMAGE = "postgres:15"
"""The image ``--ampdb-image`` defaults to."""

DEFAULT_SETTINGS: Mapping[str, str] = {
    # Durability buys nothing for a database that is thrown away.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # A pool of 100 plus the tests' own connections.
    "max_connections": "200",
}

LABEL = "org.pytest-ampdb"
"""Every container the plugin starts carries ``org.pytest-ampdb=1``."""
LABEL_OWNER_PID = "org.pytest-ampdb.owner-pid"
LABEL_OWNER_START = "org.pytest-ampdb.owner-start"
LABEL_OWNER_HOST = "org.pytest-ampdb.owner-host"
LABEL_PROJECT = "org.pytest-ampdb.project"
LABEL_REUSE = "org.pytest-ampdb.reuse"
LABEL_CONFIG = "org.pytest-ampdb.config"
LABEL_LEASE = "org.pytest-ampdb.lease"
"""The run whose lease a throwaway container's server holds (``lease.py``)."""

SUPERUSER = "postgres"
_PG_PORT = 5432
_PULL_TIMEOUT = 30.0
_DOCKER_SOCKET = Path("/var/run/docker.sock")
_START_DOCKER_HINT = (
    "start one (as root: `dockerd > /var/log/dockerd.log 2>&1 &`, or `bash scripts/docker-setup` "
    "in a checkout of pytest-ampdb) "
    "or use local PostgreSQL binaries instead"
)


# --------------------------------------------------------------------------- the engine


def docker_available(timeout: float = 2.0) -> bool:
    """True when a Docker engine answers within ``timeout`` seconds (never hangs, never raises)."""
    if not os.environ.get("DOCKER_HOST") and not _DOCKER_SOCKET.exists():
        return False
    return _ask(timeout, lambda client: bool(client.ping()))


def image_present(image: str = DEFAULT_IMAGE, timeout: float = 2.0) -> bool:
    """True when ``image`` is in the engine's local store (what ``auto`` provisioning checks
    before choosing a container, since no registry may be reachable to pull it)."""
    if not docker_available(timeout=timeout):
        return False
    return _ask(timeout, lambda client: client.images.get(image) is not None)


def _ask(timeout: float, question: Callable[[Any], bool]) -> bool:
    """``question(client)``; False when the engine cannot be reached or answers with an error."""
    try:
        client = _docker_client(timeout)
    except Exception:
        return False
    try:
        return question(client)
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            client.close()


def _docker() -> Any:
    """The docker SDK (installed with testcontainers), imported only when a container is used."""
    import docker  # type: ignore[import-untyped]

    return docker


def _docker_client(timeout: float) -> Any:
    return _docker().from_env(timeout=max(1, round(timeout)))


def _engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or f"unix://{_DOCKER_SOCKET}"


def _require_engine(timeout: float) -> Any:
    if not docker_available(timeout=min(timeout, 5.0)):
        raise ProvisioningError(
            f"no Docker engine answers at {_engine_address()}: {_START_DOCKER_HINT}"
        )
    return _docker_client(timeout)


def _ensure_image(client: Any, image: str, timeout: float) -> None:
    """The image is present locally, or one bounded pull attempt fetches it."""
    docker = _docker()
    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:  # e.g. a name Docker cannot parse: no pull either
        reason = exc.explanation or _first_line(exc)
        raise ProvisioningError(f"Docker refuses the image name {image!r}: {reason}") from None
    try:
        puller = _docker_client(min(timeout, _PULL_TIMEOUT))
        try:
            puller.images.pull(image)
        finally:
            puller.close()
    except Exception as exc:
        reason = _first_line(exc)
        raise ProvisioningError(
            f"Docker image {image!r} is not present and could not be pulled ({reason}): "
            "pull it, or build a compatible postgres:15 with `bash scripts/docker-setup` (in a "
            "checkout of pytest-ampdb)"
        ) from None


@contextlib.contextmanager
def _ryuk_off_if_needed(client: Any, *, reuse: bool) -> Iterator[None]:
    """Disable Ryuk while our container starts when its image is not present locally (it cannot
    be pulled here), or for a kept container (Ryuk would remove it when this run ends). Only
    while it starts: testcontainers reads the setting there, and the project's own containers
    (and its environment) keep their Ryuk."""
    from testcontainers.core.config import testcontainers_config

    docker = _docker()
    disable = reuse
    if not disable:
        try:
            client.images.get(testcontainers_config.ryuk_image)
        except docker.errors.ImageNotFound:
            disable = True
        except docker.errors.APIError:
            disable = True
    before = testcontainers_config.ryuk_disabled
    testcontainers_config.ryuk_disabled = before or disable
    try:
        yield
    finally:
        testcontainers_config.ryuk_disabled = before


# --------------------------------------------------------------------------- owners


def reuse_lock(name: str) -> Path:
    """The file lock a kept container ``name`` is started under (``ampdb clean`` removes it
    with the container)."""
    return Path(tempfile.gettempdir()) / f"{name}.lock"


def reuse_name(project_root: Path) -> str:
    """The name of the container ``reuse=True`` keeps for ``project_root``."""
    return f"ampdb-{project_key(project_root)}"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a recycled pid apart)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True
    if fields[0] == "Z":
        return False
    return not start or fields[19] == start


def _labels(
    project_root: Path, *, reuse: bool, config: str, lease: str | None = None
) -> dict[str, str]:
    pid = os.getpid()
    return {
        **({LABEL_LEASE: lease} if lease is not None else {}),
        LABEL: "1",
        LABEL_OWNER_PID: str(pid),
        LABEL_OWNER_START: _start_time(pid) or "",
        LABEL_OWNER_HOST: socket.gethostname(),
        LABEL_PROJECT: project_key(project_root),
        LABEL_REUSE: "1" if reuse else "0",
        LABEL_CONFIG: config,
    }


def sweep_dead_containers(*, timeout: float = 10.0) -> int:
    """Remove throwaway containers whose run is gone (killed before it could remove them): by
    the run's lease on a running server, else (this host's only) by the owner process. Kept
    (``reuse``) containers stay. Returns how many were removed."""
    if not docker_available(timeout=min(timeout, 5.0)):
        return 0
    client = _docker_client(timeout)
    try:
        return _sweep(client)
    finally:
        client.close()


def _sweep(client: Any) -> int:
    docker = _docker()
    swept = 0
    for container in client.containers.list(all=True, filters={"label": [f"{LABEL}=1"]}):
        if not _orphaned(container):
            continue
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            container.remove(force=True, v=True)
            swept += 1
    return swept


# --------------------------------------------------------------------------- cleanup


_LIVE: dict[str, Callable[[], None]] = {}
_LIVE_LOCK = threading.Lock()
_SIGTERM_HOOK: list[bool] = []


def _remove_all() -> None:
    """atexit (and SIGTERM): no throwaway container outlives this process."""
    with _LIVE_LOCK:
        removers = list(_LIVE.values())
    for remove in removers:
        with contextlib.suppress(Exception):
            remove()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _remove_all()
    # Then die of the signal as if no handler had been installed.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_sigterm_hook() -> None:
    """Remove our containers on SIGTERM too, unless someone else handles that signal."""
    if _SIGTERM_HOOK or threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
            _SIGTERM_HOOK.append(True)


atexit.register(_remove_all)


# --------------------------------------------------------------------------- starting


def start_container(
    *,
    image: str = DEFAULT_IMAGE,
    reuse: bool = False,
    recreate: bool = False,
    project_root: Path,
    settings: Mapping[str, str] | None = None,
    timeout: float = 60,
    lease: str | None = None,
) -> Server:
    """Start (or, with ``reuse``, find) a PostgreSQL container and return it as a ``Server``.

    ``settings`` are added to (and override) ``DEFAULT_SETTINGS`` as ``-c name=value`` arguments.
    ``lease``: the id of the run starting a throwaway container, whose lease its server holds
    until ``release()`` (a later sweep judges it by that lease, on any host).
    ``release()`` removes the container, except a kept (``reuse``) one, which stays for the next
    run; ``recreate`` removes a kept one first. Raises ``ProvisioningError`` (one line) when no
    engine answers or the image is missing and cannot be pulled.
    """
    merged = {**DEFAULT_SETTINGS, **(settings or {})}
    deadline = time.monotonic() + timeout
    client = _require_engine(timeout)
    try:
        with contextlib.suppress(Exception):
            _sweep(client)
        _ensure_image(client, image, timeout)
        with _ryuk_off_if_needed(client, reuse=reuse):
            config = _config_hash(image, merged)
            if reuse or recreate:
                lock = FileLock(str(reuse_lock(reuse_name(project_root))), timeout=timeout + 60)
                with lock:
                    return _start_kept(
                        client,
                        image=image,
                        reuse=reuse,
                        recreate=recreate,
                        project_root=project_root,
                        settings=merged,
                        config=config,
                        deadline=deadline,
                    )
            return _start_new(
                image=image,
                name=None,
                reuse=False,
                project_root=project_root,
                settings=merged,
                config=config,
                deadline=deadline,
                lease=lease,
            )
    finally:
        client.close()


def _start_kept(
    client: Any,
    *,
    image: str,
    reuse: bool,
    recreate: bool,
    project_root: Path,
    settings: Mapping[str, str],
    config: str,
    deadline: float,
) -> Server:
    docker = _docker()
    name = reuse_name(project_root)
    try:
        found: Any = client.containers.get(name)
    except docker.errors.NotFound:
        found = None
    if found is not None and found.labels.get(LABEL) != "1":
        raise ProvisioningError(
            f"a container named {name} that pytest-ampdb did not create (it has not its "
            f"{LABEL} label) holds the name of this checkout's kept container: it is left "
            f"alone; rename or remove it, or run without --ampdb-reuse"
        )
    if found is not None and (recreate or not reuse or found.labels.get(LABEL_CONFIG) != config):
        with contextlib.suppress(docker.errors.NotFound):
            found.remove(force=True, v=True)
        found = None
    if found is not None:
        try:
            return _attach(found, image=image, deadline=deadline)
        except ProvisioningError:
            with contextlib.suppress(docker.errors.NotFound):
                found.remove(force=True, v=True)
    return _start_new(
        image=image,
        name=name if reuse else None,
        reuse=reuse,
        project_root=project_root,
        settings=settings,
        config=config,
        deadline=deadline,
    )


PORT_ATTEMPTS = 3
"""Host ports tried for a new container: one picked free may be taken before Docker binds it."""

_PORT_ALLOCATED = ("port is already allocated", "address already in use")


def _start_new(**how: Any) -> Server:
    """A new container, published on a host port of our choosing (another one when Docker
    finds it taken meanwhile, by another run starting at the same moment)."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return _start_on_port(free_port(), **how)
        except ProvisioningError as exc:
            if attempt == PORT_ATTEMPTS or not any(m in str(exc).lower() for m in _PORT_ALLOCATED):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _start_on_port(
    host_port: int,
    *,
    image: str,
    name: str | None,
    reuse: bool,
    project_root: Path,
    settings: Mapping[str, str],
    config: str,
    deadline: float,
    lease: str | None = None,
) -> Server:
    from testcontainers.core.container import DockerContainer

    command: list[str] = []
    for key, value in settings.items():
        command += ["-c", f"{key}={value}"]
    password = secrets.token_urlsafe(18)
    # The postgres image's own variables, through testcontainers' public DockerContainer: its
    # PostgresContainer polls readiness once a second, ours (_wait_ready, the same psql check)
    # every 100 ms, and nothing private needs patching to use ours.
    pg: Any = (
        DockerContainer(image, command=shlex.join(command), name=name)  # docker-py splits it
        .with_envs(POSTGRES_USER=SUPERUSER, POSTGRES_PASSWORD=password, POSTGRES_DB="postgres")
        # a host port of our choosing: Docker gives an ephemeral one (``-p 0:5432``) anew on
        # each start, so a ``docker restart`` would move the server to another port
        .with_bind_ports(_PG_PORT, host_port)
        .with_kwargs(labels=_labels(project_root, reuse=reuse, config=config, lease=lease))
    )
    try:
        pg.start()
        container = pg.get_wrapped_container()
        if not reuse:
            _register(container)
        _wait_ready(container, SUPERUSER, password, deadline)
        host, port = pg.get_container_host_ip(), int(pg.get_exposed_port(_PG_PORT))
        server = _server(
            container,
            image=image,
            user=SUPERUSER,
            password=password,
            host=host,
            port=port,
            reused=False,
        )
        if lease is not None:
            server.release = _letting_go(leases.hold(server.admin_dsn, lease), server.release)
    except BaseException as exc:
        # Never leave a half-started container behind (Ctrl-C included).
        started = None
        with contextlib.suppress(Exception):
            started = pg.get_wrapped_container()
        with contextlib.suppress(Exception):
            pg.stop()
        _unregister_id(getattr(started, "id", None))
        if isinstance(exc, Exception) and not isinstance(exc, ProvisioningError):
            raise ProvisioningError(
                f"container from {image!r} did not start: {_first_line(exc)}"
            ) from None
        raise
    if not reuse:
        _install_sigterm_hook()
    return server


def _attach(container: Any, *, image: str, deadline: float) -> Server:
    """A kept container from an earlier run: start it when stopped, wait until it answers."""
    container.reload()
    if container.status != "running":
        try:
            container.start()
        except Exception as exc:  # its fixed host port taken meanwhile: the caller starts anew
            raise ProvisioningError(
                f"kept container {container.name} did not start: {_first_line(exc)}"
            ) from None
    user, password = _credentials(container)
    _wait_ready(container, user, password, deadline)
    host, port = _published(container)
    return _server(
        container, image=image, user=user, password=password, host=host, port=port, reused=True
    )


def _credentials(container: Any) -> tuple[str, str]:
    env = _env_of(container)
    return env.get("POSTGRES_USER", SUPERUSER), env.get("POSTGRES_PASSWORD", "")


def _published(container: Any) -> tuple[str, int]:
    """Where the host reaches the container's server (address and published port)."""
    from testcontainers.core.docker_client import DockerClient

    docker_client = DockerClient()
    host = _host_ip(docker_client, container.id)
    return host, int(docker_client.port(container.id, _PG_PORT))


def _host_ip(docker_client: Any, container_id: str) -> str:
    """Where the host reaches the container: the same choice ``get_container_host_ip`` makes."""
    from testcontainers.core.config import ConnectionMode

    mode = docker_client.get_connection_mode()
    if mode == ConnectionMode.gateway_ip:
        return str(docker_client.gateway_ip(container_id))
    if mode == ConnectionMode.bridge_ip:
        return str(docker_client.bridge_ip(container_id))
    return str(docker_client.host())


def _wait_ready(container: Any, user: str, password: str, deadline: float) -> None:
    """Poll the server inside the container like testcontainers does (``psql`` over TCP to
    127.0.0.1 with the password), every 100 ms; fail at once, with its log, if it exits."""
    check = ["psql", "-h", "127.0.0.1", "-U", user, "-d", "postgres", "-Atc", "select 1"]
    last = ""

    def accepting() -> bool | None:
        nonlocal last
        container.reload()
        if container.status in {"exited", "dead"}:
            logs = container.logs(tail=20).decode(errors="replace").strip()
            raise ProvisioningError(
                f"container {container.short_id} exited before accepting connections: "
                f"{logs.splitlines()[-1] if logs else 'no output'}"
            )
        if container.status == "running":
            result = container.exec_run(check, environment={"PGPASSWORD": password})
            if result.exit_code == 0:
                return True
            last = result.output.decode(errors="replace").strip()
        return None

    if wait_until(accepting, timeout=max(deadline - time.monotonic(), 0.0), interval=0.1) is None:
        raise ProvisioningError(
            f"container {container.short_id} did not accept connections in time"
            + (f": {last.splitlines()[-1]}" if last else "")
        )


def _admin_dsn(user: str, password: str, host: str, port: int) -> str:
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{_url_host(host)}:{port}"
        "/postgres"
    )


def _server(
    container: Any, *, image: str, user: str, password: str, host: str, port: int, reused: bool
) -> Server:
    admin_dsn = _admin_dsn(user, password, host, port)
    version = _server_version(admin_dsn)
    kept = container.labels.get(LABEL_REUSE) == "1"
    description = f"container {container.short_id} ({image}) at {host}:{port}"
    if kept:
        description += ", kept for the next run"  # the header adds "(reused)" or "(started)"
    container_id: str = container.id
    return Server(
        admin_dsn=admin_dsn,
        kind=ServerSource.CONTAINER,
        description=description,
        version=version,
        reused=reused,
        owned=True,
        release=(lambda: None) if kept else _remover(container_id),
        gone=_killed(container_id),
    )


def _killed(container_id: str) -> Callable[[], bool]:
    """Whether Docker says the container is down for good: removed, or stopped without a
    clean shutdown (``docker kill``, the OOM killer: exit status 137). ``docker restart`` (and
    ``docker stop``) shut the server down cleanly (status 0), then may start it again; an
    engine that does not answer cannot tell either."""

    def killed() -> bool:
        docker = _docker()
        try:
            client = _docker_client(2.0)
        except Exception:
            return False
        try:
            state: Mapping[str, Any] = client.api.inspect_container(container_id)["State"]
        except docker.errors.NotFound:
            return True
        except Exception:
            return False
        finally:
            client.close()
        return not state.get("Running") and state.get("ExitCode") not in (0, None)

    return killed


def _server_version(admin_dsn: str) -> str:
    # A fresh container's server answered inside it; the published port may lag a moment.
    refused: list[psycopg.OperationalError] = []

    def version() -> str | None:
        try:
            with open_bounded(
                admin_dsn, answer_timeout=5, autocommit=True, connect_timeout=5
            ) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                return str(row[0]).split()[0] if row else ""
        except psycopg.OperationalError as exc:
            refused[:] = [exc]
            return None

    found = wait_until(version, timeout=10, interval=0.05)
    if found is None:
        raise ProvisioningError(
            "the container's server does not answer on its published port: "
            f"{_first_line(refused[0]) if refused else 'no answer'}"
        )
    return found


# --------------------------------------------------------------------------- what is left


@dataclass(frozen=True)
class LeftContainer:
    """A container the plugin left: kept by ``--ampdb-reuse``, or a throwaway one of this host
    whose owner died. Known by the plugin's labels, never by its name."""

    id: str
    name: str
    kind: str
    """``kept`` or ``orphaned``."""
    image: str
    status: str
    admin_dsn: str | None
    """Its server's maintenance database, while it runs."""

    def remove(self) -> None:
        remove_container(self.id)
        if self.kind == "kept":  # its checkout's lock file goes with it, unless a run holds it
            with contextlib.suppress(Timeout), FileLock(str(reuse_lock(self.name)), timeout=0):
                reuse_lock(self.name).unlink(missing_ok=True)


def left_containers(keys: frozenset[str] | None, *, timeout: float = 10.0) -> list[LeftContainer]:
    """Kept containers of the checkouts ``keys`` (None: of every checkout), and throwaway
    containers of this host whose owner is gone (whatever the checkout)."""
    client = _docker_client(timeout)
    try:
        found = []
        for container in client.containers.list(all=True, filters={"label": [f"{LABEL}=1"]}):
            labels: Mapping[str, str] = container.labels
            if labels.get(LABEL_REUSE) == "1":
                if keys is not None and labels.get(LABEL_PROJECT) not in keys:
                    continue
                kind = "kept"
            elif _orphaned(container):
                kind = "orphaned"
            else:
                continue
            dsn = None
            if container.status == "running":
                with contextlib.suppress(Exception):
                    dsn = _admin_dsn(*_credentials(container), *_published(container))
            image = (container.attrs.get("Config") or {}).get("Image", "")
            found.append(
                LeftContainer(container.id, container.name, kind, image, container.status, dsn)
            )
        return found
    finally:
        client.close()


def _orphaned(container: Any) -> bool:
    """A throwaway container whose run is gone: its server answers and the run's lease on it
    is free (past ``lease.GRACE``); without that answer, one of this host whose owner process
    is gone."""
    labels: Mapping[str, str] = container.labels
    if labels.get(LABEL_REUSE) == "1":
        return False
    lease = labels.get(LABEL_LEASE)
    if lease and container.status == "running":
        alive = None
        with contextlib.suppress(Exception):  # no published port yet, or gone meanwhile
            dsn = _admin_dsn(*_credentials(container), *_published(container))
            alive = leases.run_alive(dsn, lease)
        if alive is not None:
            return not alive
    if labels.get(LABEL_OWNER_HOST) != socket.gethostname():
        return False
    try:
        pid = int(labels.get(LABEL_OWNER_PID, ""))
    except ValueError:
        return False
    return pid != os.getpid() and not _owner_alive(pid, labels.get(LABEL_OWNER_START))


# --------------------------------------------------------------------------- removal


def _letting_go(hold: psycopg.Connection[Any], release: Callable[[], None]) -> Callable[[], None]:
    """``release``, after closing the connection that holds the run's lease on the server."""

    def let_go() -> None:
        with contextlib.suppress(psycopg.Error):
            hold.close()
        release()

    return let_go


def _remover(container_id: str) -> Callable[[], None]:
    def remove() -> None:
        _unregister_id(container_id)
        remove_container(container_id)

    return remove


def remove_container(container_id: str, *, timeout: float = 30.0) -> None:
    """Remove a container (and its anonymous volumes); one that is already gone is fine. An
    engine that does not answer is one line saying the container was left (it was silent: the
    container kept running until a later run swept it)."""
    docker = _docker()
    left = (
        f"container {container_id[:12]} was left running: the Docker engine did not answer "
        f"(the next run removes it, or `ampdb clean`)"
    )
    if not docker_available(timeout=min(timeout, 5.0)):
        raise ProvisioningError(left)
    client = _docker_client(timeout)
    try:
        client.containers.get(container_id).remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except Exception as exc:  # an engine that stopped answering midway, or refused
        raise ProvisioningError(f"{left}: {_first_line(exc)}") from None
    finally:
        client.close()


def _register(container: Any) -> None:
    container_id: str = container.id
    with _LIVE_LOCK:
        _LIVE[container_id] = lambda: remove_container(container_id)


def _unregister_id(container_id: str | None) -> None:
    if container_id:
        with _LIVE_LOCK:
            _LIVE.pop(container_id, None)


# --------------------------------------------------------------------------- helpers


def _config_hash(image: str, settings: Mapping[str, str]) -> str:
    material = json.dumps({"image": image, "settings": dict(settings)}, sort_keys=True)
    return hashlib.sha1(material.encode()).hexdigest()[:12]


def _env_of(container: Any) -> dict[str, str]:
    pairs = container.attrs.get("Config", {}).get("Env") or []
    return dict(str(pair).split("=", 1) for pair in pairs if "=" in str(pair))


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip() or type(exc).__name__
    return text.splitlines()[0]
