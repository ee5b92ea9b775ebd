"""pytest glue: options, hooks, marker, report header, per-test seeds. The logic lives in the
core (``settings``, ``run``, ``backend``, ``memory``...); this module only wires it into pytest.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_ampdb import database
from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.harness import fixtures, hook_errors, hooks, run_models
from pytest_ampdb.harness.backends.base import BackendContext
from pytest_ampdb.harness.fixtures import (
    BASE_SEED_KEY,
    FAILED_KEY,
    KEPT_PROPERTY,
    MARKER_ERROR_KEY,
    RUN_KEY,
    marker_error,
)
from pytest_ampdb.harness.randomness import factory_seed_for, new_base_seed, test_seed
from pytest_ampdb.harness.run import AmpdbRun, on_test_thread
from pytest_ampdb.harness.settings import OPTIONS, Option, Settings, recheck, resolve
from pytest_ampdb.modes import Backend, ServerSource
from pytest_ampdb.types import Repositories
from pytest_ampdb.urls import Dsn, redact_text, redact_url

WORKER_SEED = "ampdb_random_seed"
WORKER_SITE = "ampdb_site"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ampdb", "pytest-ampdb: repositories over memory or PostgreSQL")
    for option in OPTIONS:
        help_text = f"{option.help} [env {option.env}, ini {option.ini}]"
        if option.kind == "bool":
            group.addoption(
                option.flag, action="store_true", dest=f"ampdb_{option.dest}", help=help_text
            )
        else:
            group.addoption(
                option.flag,
                dest=f"ampdb_{option.dest}",
                default=None,
                metavar=option.dest.upper() if not option.choices else "|".join(option.choices),
                help=help_text,
            )
        # as text, bools too: settings checks every value, so a bad one names its ini key
        parser.addini(option.ini, option.help, default=None)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)
    if not pluginmanager.is_registered(fixtures):
        pluginmanager.register(fixtures, "ampdb.fixtures")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ampdb(isolation=None, seed=True, backend=None): per-test pytest-ampdb options; "
        "a test naming a backend runs only there and is skipped on the other",
    )

    def cli(option: Option) -> Any:
        return config.getoption(f"ampdb_{option.dest}")

    def ini(option: Option) -> Any:
        value = config.getini(option.ini)
        if option.kind == "directory" and value not in (None, ""):
            # as pytest reads its own paths: relative to the ini file, wherever pytest runs from
            base = config.inipath.parent if config.inipath else config.rootpath
            return str(base / Path(str(value)).expanduser())
        return value

    try:
        settings = resolve(cli, ini, os.environ)
        with hook_errors.reported("pytest_ampdb_configure", _hook_files(config, "configure")):
            config.hook.pytest_ampdb_configure(config=config, settings=settings)
        recheck(settings, "pytest_ampdb_configure:")
        run = AmpdbRun(settings, _context(config))
    except AmpdbError as exc:
        raise _usage_error(exc) from None
    config.stash[RUN_KEY] = run
    config.pluginmanager.register(fixtures.declared_fixtures(run.tables), "ampdb.declared")
    run_models.use_tables(run.tables)
    database.mark_testing(True)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "ampdb-xdist")


def _usage_error(exc: AmpdbError) -> pytest.UsageError:
    """The run's one error line; passwords hidden (a hook's own message may quote a URL)."""
    return pytest.UsageError(f"pytest-ampdb: {redact_text(str(exc))}")


def _context(config: pytest.Config) -> BackendContext:
    hook = config.hook
    hook_files = _hook_files(config, "seed")

    def seed(repos: Repositories) -> None:
        """The hooks' rows go to ``repos``, also when they write through factories or the
        facade (else those went to a process default of their own, and were lost)."""
        # the hook's factory values come from the run's seed: the same rows in every worker
        hook_seed = factory_seed_for(test_seed(_base_seed(config), "pytest_ampdb_seed"))
        with database.use(repos), hook_errors.reported("pytest_ampdb_seed", hook_files), hook_seed:
            hook.pytest_ampdb_seed(repos=repos)

    ready_files = _hook_files(config, "database_ready")

    def ready(dsn: str) -> None:
        with hook_errors.reported("pytest_ampdb_database_ready", ready_files):
            hook.pytest_ampdb_database_ready(dsn=dsn)

    return BackendContext(
        seed_hook=seed,
        on_ready=on_test_thread(ready),
        fingerprint_files=hook_files,
        shared=getattr(config, "workerinput", {}).get(WORKER_SITE),
        worker=os.environ.get("PYTEST_XDIST_WORKER", "main"),
        processes=_test_processes(config),
        project_root=config.rootpath,
    )


def _hook_files(config: pytest.Config, name: str) -> Callable[[], tuple[Path, ...]]:
    """The source files of the implementations of ``pytest_ampdb_<name>``, when asked."""
    caller = getattr(config.hook, f"pytest_ampdb_{name}")

    def files() -> tuple[Path, ...]:
        found = (inspect.getsourcefile(impl.function) for impl in caller.get_hookimpls())
        return tuple(Path(f) for f in found if f)

    return files


def _test_processes(config: pytest.Config) -> int:
    """How many processes will run tests: xdist's workers (resolved by xdist), else one."""
    workers = getattr(config.option, "numprocesses", None)
    return workers if isinstance(workers, int) and workers > 0 else 1


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        database.mark_testing(False)
        run_models.use_tables({})
        try:
            run.close()
        except AmpdbError as exc:  # e.g. the server stopped answering: one line, no traceback
            with contextlib.suppress(OSError):  # a terminal hung up
                sys.stderr.write(f"pytest-ampdb: cleaning up at the end of the run failed: {exc}\n")


@pytest.hookimpl(trylast=True)  # after the fixtures' teardown, before the reporter's summary
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A run a signal stopped cleans up before the summary is written: after SIGHUP the
    terminal is gone, and the reporter's first write to it (EIO) would end pytest before
    ``pytest_unconfigure``."""
    run = session.config.stash.get(RUN_KEY, None)
    if run is not None and run.stopped_by_signal:
        pytest_unconfigure(session.config)


def _base_seed(config: pytest.Config) -> int:
    """The run's base seed: the option, the xdist controller's, pytest-randomly's, or random."""
    if BASE_SEED_KEY not in config.stash:
        settings: Settings = config.stash[RUN_KEY].settings
        worker = getattr(config, "workerinput", {}).get(WORKER_SEED)
        randomly = getattr(config.option, "randomly_seed", None)
        seed = settings.random_seed
        if seed is None:
            seed = worker if worker is not None else randomly if isinstance(randomly, int) else None
        config.stash[BASE_SEED_KEY] = seed if seed is not None else new_base_seed()
    return config.stash[BASE_SEED_KEY]


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter prints the header
def pytest_sessionstart(session: pytest.Session) -> None:
    """Seed the run and start its backend now (provision PostgreSQL, or load the memory store
    and run the seed hooks), so a failure stops the run with one line in either mode."""
    _base_seed(session.config)
    run = session.config.stash[RUN_KEY]
    if not hasattr(session.config, "workerinput") and not _runs_no_test(session.config):
        try:
            run.backend  # noqa: B018 - starting it is the point
        except AmpdbError as exc:
            raise _usage_error(exc) from None


def _runs_no_test(config: pytest.Config) -> bool:
    """``--collect-only``, ``--fixtures``, ``--fixtures-per-test``, ``--setup-plan``: pytest
    lists, and runs nothing (an IDE's test discovery, on every save): no server is started."""
    option = config.option
    flags = ("collectonly", "showfixtures", "show_fixtures_per_test", "setupplan")
    return any(getattr(option, flag, False) for flag in flags)


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash[RUN_KEY]
    seed = _base_seed(config)
    described = (
        run.backend.describe() if run.started or run.settings.backend == Backend.MEMORY else []
    )
    return [f"ampdb: {line}" for line in described] + [
        f"ampdb: random seed {seed} (repeat with --ampdb-random-seed={seed})"
    ]


def pytest_runtest_setup(item: pytest.Item) -> None:
    error = item.stash.get(MARKER_ERROR_KEY, None)
    if error is not None:
        pytest.fail(error, pytrace=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, with the reason, tests marked for the other backend; a bad marker is the test's
    error instead (never a skip on both backends)."""
    backend = config.stash[RUN_KEY].settings.backend
    for item in items:
        error = marker_error(item)
        if error is not None:
            item.stash[MARKER_ERROR_KEY] = error
            continue
        marker = item.get_closest_marker("ampdb")
        wanted = marker.kwargs.get("backend") if marker else None
        if wanted is not None and wanted != backend:
            reason = f"marked for the {wanted} backend; this run uses {backend}"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    report = yield
    if report.failed:
        item.stash[FAILED_KEY] = True
    return report


class _XdistHooks:
    """Send the controller's base seed to every worker, so the header's seed reproduces."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_SEED] = _base_seed(node.config)
        run = node.config.stash[RUN_KEY]
        shared = getattr(run.backend, "provisioned", None)  # postgres: one template for all
        if shared is not None:
            node.workerinput[WORKER_SITE] = shared.to_shared()


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """An assertion on a URL with a password (``ampdb_dsn``, or a string a test made from it:
    ``f"{ampdb_dsn}?sslmode=disable"``) is explained with the password hidden; pytest's own
    explanation of two strings is a diff of their text, the password included."""
    if not _holds_password(left) and not _holds_password(right):
        return None
    return [f"{_shown(left)} {op} {_shown(right)}"]


def _holds_password(value: object) -> bool:
    return isinstance(value, Dsn) or (isinstance(value, str) and redact_text(value) != value)


def _shown(value: object) -> str:
    return repr(redact_text(value)) if isinstance(value, str) else repr(value)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == KEPT_PROPERTY and report.when == "teardown":
            _KEPT.append((report.nodeid, str(value)))


_KEPT: list[tuple[str, str]] = []


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    kept = list(_KEPT)
    _KEPT.clear()
    if not kept:
        return
    terminalreporter.section("pytest-ampdb: databases kept for failed tests")
    for nodeid, dsn in kept:
        terminalreporter.write_line(f"{nodeid}: psql '{redact_url(dsn)}'")
    run = config.stash[RUN_KEY]
    provisioned = getattr(run.backend, "provisioned", None) if run.started else None
    if provisioned is not None and (
        run.settings.reuse or provisioned.kind in {ServerSource.DSN, ServerSource.PREVIEW}
    ):
        from pytest_ampdb.harness.kept import clean_hint

        terminalreporter.write_line(clean_hint(provisioned.admin_dsn, config.rootpath))
    elif not run.settings.reuse:
        terminalreporter.write_line(
            "(a container or cluster the run started is removed at exit: use --ampdb-reuse "
            "to keep it, and the databases with it)"
        )
