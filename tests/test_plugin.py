"""The pytest plugin as a downstream suite sees it, driven through pytester."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_ampdb.harness.settings import OPTIONS
from pytest_ampdb.paths import migrations_dir, seeds_dir

pytest_plugins = ["pytester"]


def test_header_names_backend_seeds_and_random_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--ampdb-random-seed=4242")
    result.stdout.fnmatch_lines(
        [
            "ampdb: backend memory (in-process MemoryStore), seeds * (27 rows in 12 tables)",
            "ampdb: random seed 4242 (repeat with --ampdb-random-seed=4242)",
        ]
    )
    result.assert_outcomes(passed=1)


WRITER_AND_READER = """
from pytest_ampdb.models import Organization, new_id

def test_{a}(ampdb):
    ampdb.organizations.create(Organization(label="written by {a}", default_team_id=new_id()))
    assert [o.label for o in ampdb.organizations.list().items] == ["Ampersand Local", "written by {a}"]

def test_{b}(ampdb):
    assert [o.label for o in ampdb.organizations.list().items] == ["Ampersand Local"]
"""


@pytest.mark.parametrize(("a", "b"), [("first", "second"), ("zsecond", "afirst")])
def test_what_one_test_writes_no_other_test_sees(pytester: pytest.Pytester, a: str, b: str) -> None:
    pytester.makepyfile(WRITER_AND_READER.format(a=a, b=b))
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_threads_started_by_the_code_under_test_see_the_test_data(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import threading
        from pytest_ampdb import database
        from pytest_ampdb.models import Organization, new_id

        def test_thread(ampdb):
            ampdb.organizations.create(Organization(label="mine", default_team_id=new_id()))
            seen = []
            worker = threading.Thread(
                target=lambda: seen.extend(o.label for o in database.organizations().list().items)
            )
            worker.start()
            worker.join()
            assert seen == ["Ampersand Local", "mine"]

        def test_without_fixture_still_isolated():
            database.organizations().create(Organization(label="leak?", default_team_id=new_id()))

        def test_after():
            assert len(database.organizations().list().items) == 1
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_use_inside_a_test_overrides_only_its_own_context(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_ampdb import database, memory

        def test_use(ampdb):
            other = memory.repositories(memory.MemoryStore())
            with database.use(other):
                assert database.projects().list().items == []
            assert len(database.projects().list().items) == 1
            assert database.projects() is ampdb.projects
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_marker_backend_skips_with_reason_and_seed_false_starts_empty(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.ampdb(backend="postgres")
        def test_only_postgres(ampdb):
            raise AssertionError("must not run in memory mode")

        @pytest.mark.ampdb(backend="memory")
        def test_only_memory(ampdb):
            assert ampdb.projects.list().items

        @pytest.mark.ampdb(seed=False)
        def test_empty(ampdb):
            assert ampdb.projects.list().items == []

        @pytest.mark.ampdb(seed=False)
        def test_no_seed_ids(ampdb_seed):
            pass

        @pytest.mark.ampdb(colour="red")
        def test_bad_marker(ampdb):
            pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=2, skipped=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "ampdb_seed: this test is marked ampdb(seed=False)",
            "@pytest.mark.ampdb takes only keyword arguments backend, isolation, seed; got colour",
            "SKIPPED [[]1[]] test_marker_*.py:3: marked for the postgres backend; this run uses memory",
        ]
    )


def test_hooks_configure_and_seed_are_called(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_ampdb.models import Organization

        CALLS = []

        def pytest_ampdb_configure(config, settings):
            CALLS.append(("configure", settings.backend))

        def pytest_ampdb_seed(repos):
            CALLS.append(("seed", len(repos.organizations.list().items)))
            repos.organizations.create(
                Organization(label="from hook", default_team_id="00000000-0000-4000-8000-000000000001")
            )
        """
    )
    pytester.makepyfile(
        """
        import conftest

        def test_a(ampdb):
            labels = [o.label for o in ampdb.organizations.list().items]
            assert labels == ["Ampersand Local", "from hook"]

        def test_b(ampdb):
            assert len(ampdb.organizations.list().items) == 2
            assert conftest.CALLS == [("configure", "memory"), ("seed", 1)]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("args", "env", "ini", "message"),
    [
        (
            ["--ampdb=oracle"],
            {},
            "",
            "--ampdb='oracle': expected one of memory, postgres",
        ),
        (
            [],
            {"AMPDB_BACKEND": "oracle"},
            "",
            "AMPDB_BACKEND='oracle': expected one of memory, postgres",
        ),
        ([], {}, "ampdb_backend = oracle", "ini ampdb_backend='oracle': expected one of *"),
        (
            ["--ampdb-random-seed=abc"],
            {},
            "",
            "--ampdb-random-seed='abc': expected an integer",
        ),
        (
            [],
            {"AMPDB_NO_SEED": "maybe"},
            "",
            "AMPDB_NO_SEED='maybe': expected true or false",
        ),
    ],
)
def test_a_bad_option_is_one_line_naming_it(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    ini: str,
    message: str,
) -> None:
    for option in OPTIONS:  # only what each case sets may be in effect (tox sets AMPDB_BACKEND)
        monkeypatch.delenv(option.env, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-ampdb: {message}"])
    assert "Traceback" not in result.stderr.str()


def test_command_line_beats_environment_beats_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nampdb_random_seed = 1\n")
    pytester.makepyfile("def test_x(): pass")
    pytester.runpytest().stdout.fnmatch_lines(["ampdb: random seed 1 *"])
    monkeypatch.setenv("AMPDB_RANDOM_SEED", "2")
    pytester.runpytest().stdout.fnmatch_lines(["ampdb: random seed 2 *"])
    pytester.runpytest("--ampdb-random-seed=3").stdout.fnmatch_lines(["ampdb: random seed 3 *"])


def _copy_seeds(tmp: Path) -> Path:
    target = tmp / "seed"
    shutil.copytree(seeds_dir(), target)
    return target


@pytest.mark.parametrize(
    ("table", "edit", "message"),
    [
        (
            "connections",
            lambda rows: "[{not json",
            "connections.json: not valid JSON: *line 1 column 3",
        ),
        (
            "connections",
            lambda rows: {"a": 1},
            "connections.json: expected a JSON array of rows, found dict",
        ),
        (
            "connections",
            lambda rows: [rows[0], {**rows[1], "status": "sleeping"}],
            "connections.json: row 2: connections.status: 'sleeping' is not one of created, "
            "working, bad_credentials",
        ),
        (
            "projects",
            lambda rows: [{**rows[0], "colour": "red"}],
            "projects.json: row 1: unknown column colour in projects",
        ),
        (
            "destinations",
            lambda rows: [rows[0], {**rows[1], "name": rows[0]["name"]}],
            "destinations.json: row 2: destinations: a row with project_id=*, "
            "name=defaultWebhook already exists",
        ),
        (
            "read_states",
            lambda rows: [{**rows[0], "installation_id": "00000000-0000-4000-8000-00000000dead"}],
            "read_states.json: row 1: read_states.installation_id -> installations: "
            "no installations row with project_id=*, id=00000000-0000-4000-8000-00000000dead",
        ),
    ],
)
def test_a_broken_seed_stops_the_session_with_one_line(
    pytester: pytest.Pytester, table: str, edit: object, message: str
) -> None:
    directory = _copy_seeds(pytester.path)
    path = directory / f"{table}.json"
    rows = json.loads(path.read_text())
    new = edit(rows)  # type: ignore[operator]
    path.write_text(new if isinstance(new, str) else json.dumps(new))
    pytester.makepyfile("def test_x(ampdb): pass")
    result = pytester.runpytest_subprocess(f"--ampdb-seeds={directory}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-ampdb: *{message}"])
    assert len([line for line in result.stderr.lines if line.strip()]) == 1
    assert "Traceback" not in result.stderr.str()


def test_no_seed_option_starts_every_test_empty(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_empty(ampdb):
            assert ampdb.organizations.list().items == []
        """
    )
    pytester.runpytest("--ampdb-no-seed").assert_outcomes(passed=1)


def test_random_seed_reproduces_factory_values_whatever_the_order(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_values="""
        import json, os

        def test_b(connection_factory):
            with open(os.environ["OUT"], "a") as out:
                out.write(json.dumps(["b", connection_factory.build().group_name]) + "\\n")

        def test_a(project_factory):
            with open(os.environ["OUT"], "a") as out:
                out.write(json.dumps(["a", project_factory.build().name]) + "\\n")
        """
    )
    runs = []
    for order in (
        ["test_values.py::test_b", "test_values.py::test_a"],
        ["test_values.py::test_a", "test_values.py::test_b"],
    ):
        out = pytester.path / f"out{len(runs)}.jsonl"
        pytester._monkeypatch.setenv("OUT", str(out))
        pytester.runpytest("-p", "no:randomly", "--ampdb-random-seed=77", *order).assert_outcomes(
            passed=2
        )
        runs.append(sorted(json.loads(line) for line in out.read_text().splitlines()))
    assert runs[0] == runs[1]
    out = pytester.path / "other.jsonl"
    pytester._monkeypatch.setenv("OUT", str(out))
    pytester.runpytest("-p", "no:randomly", "--ampdb-random-seed=78").assert_outcomes(passed=2)
    assert sorted(json.loads(line) for line in out.read_text().splitlines()) != runs[0]


def test_random_seed_reproduces_factory_values_under_xdist_with_a_seed_hook(
    pytester: pytest.Pytester,
) -> None:
    """A seed hook that uses factories runs, in memory mode under xdist, in each worker when its
    first test opens the store: its calls took that test's seed, so the test's values could
    differ from the same seed's without xdist, and the hook's rows differed from worker to
    worker and run to run. They come from the run's seed now."""
    pytester.makeconftest(
        """
        from pytest_ampdb.factories import OrganizationFactory, ProjectFactory

        def pytest_ampdb_seed(repos):
            org = OrganizationFactory.create(label="from the hook")
            ProjectFactory.create(name="from-the-hook", organization_id=org.id)
        """
    )
    pytester.makepyfile(
        test_values="""
        import json, os
        from pytest_ampdb import database

        def test_values(connection_factory, ampdb_seed):
            made = connection_factory.build(project_id=ampdb_seed.project_id)
            hook = database.projects().get_by_name("from-the-hook")
            with open(os.environ["OUT"], "a") as out:
                out.write(json.dumps([made.group_name, made.id]) + "\\n")
                out.write(json.dumps([hook.id, hook.organization_id]) + "\\n")
        """
    )
    runs = []
    for extra in ([], ["-p", "xdist", "-n", "1"], ["-p", "xdist", "-n", "1"]):
        out = pytester.path / f"out{len(runs)}.jsonl"
        pytester._monkeypatch.setenv("OUT", str(out))
        result = pytester.runpytest_subprocess(
            "-p", "no:randomly", "--ampdb-random-seed=77", *extra
        )
        result.assert_outcomes(passed=1)
        runs.append(out.read_text().splitlines())
    assert runs[0][0] == runs[1][0]  # the test's values
    assert runs[0][1] == runs[1][1] == runs[2][1]  # the hook's rows


def test_an_assertion_on_a_url_a_test_made_hides_its_password(pytester: pytest.Pytester) -> None:
    """``ampdb_dsn`` is a ``Dsn`` whose repr is redacted, but a string made from it is a plain
    ``str``: pytest's explanation of a failed comparison quoted its password in full."""
    pytester.makepyfile(
        """
        def test_made_url():
            dsn = "postgresql://app:s3cretpw@db.example/ampdb_run_1"
            assert f"{dsn}?sslmode=disable" == "postgresql://app@db.example/other"

        def test_in_a_message():
            assert "failed: postgresql://app:s3cretpw@db.example/x" == "ok"
        """
    )
    result = pytester.runpytest("-vv", "--tb=long")
    result.assert_outcomes(failed=2)
    told = [line for line in result.stdout.lines if line.startswith(("E ", "FAILED"))]
    assert told
    assert not [line for line in told if "s3cretpw" in line]  # the source lines quote it, no more
    result.stdout.fnmatch_lines(
        ["*'postgresql://app:xxxxx@db.example/ampdb_run_1?sslmode=disable' == *"]
    )


def test_ini_paths_are_relative_to_the_ini_file_from_any_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ampdb_seeds = seed`` in the project's ini: pytest run from a subfolder (an IDE, ``cd
    tests && pytest``) looked for ``tests/seed`` and stopped the run."""
    shutil.copytree(seeds_dir(), pytester.path / "seed")
    shutil.copytree(migrations_dir(), pytester.path / "migrations")
    pytester.makeini("[pytest]\nampdb_seeds = seed\nampdb_migrations = migrations\n")
    sub = pytester.mkdir("tests")
    (sub / "test_x.py").write_text("def test_x(ampdb, ampdb_seed): pass\n")
    monkeypatch.chdir(sub)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"ampdb: backend memory (in-process MemoryStore), seeds {pytester.path / 'seed'} *",
            f"ampdb: schema packaged *; migrations {pytester.path / 'migrations'} at version *",
        ]
    )


def test_entity_fixtures_are_saved_in_the_tests_repositories(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_saved(ampdb, connection, operation, read_state):
            assert ampdb.connections.get_by_id(connection.project_id, connection.id) == connection
            assert ampdb.operations.get_by_id(operation.project_id, operation.id) == operation
            assert ampdb.read_states.get_by_id(read_state.project_id, read_state.id) == read_state

        def test_mock_fixture(ampdb_mock):
            repo = ampdb_mock.ProjectBuilder().with_get_by_name(lambda name: name.upper()).build()
            assert repo.get_by_name("x") == "X"

        def test_dsn_needs_postgres(ampdb_dsn):
            pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*ampdb_dsn needs a PostgreSQL backend (this run uses memory)*"])


def test_pytest_randomly_seed_is_used_when_that_plugin_is_active(pytester: pytest.Pytester) -> None:
    # stands in for pytest-randomly, which stores its seed as config.option.randomly_seed
    pytester.makeconftest(
        """
        def pytest_configure(config):
            config.option.randomly_seed = 987654
        """
    )
    pytester.makepyfile("def test_x(): pass")
    pytester.runpytest().stdout.fnmatch_lines(["ampdb: random seed 987654 *"])
    pytester.runpytest("--ampdb-random-seed=5").stdout.fnmatch_lines(["ampdb: random seed 5 *"])


@pytest.mark.parametrize("backend", ["memory", "postgres"])
def test_a_misspelt_marker_is_an_error_of_that_test_on_both_backends(
    pytester: pytest.Pytester, backend: str, request: pytest.FixtureRequest
) -> None:
    args = [f"--ampdb={backend}"]
    if backend == "postgres":
        dsn = request.getfixturevalue("pg_admin_dsn")
        args += ["--ampdb-postgres=dsn", f"--ampdb-dsn={dsn}"]
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.ampdb(backend="postgress")
        def test_typo_backend(ampdb):
            pass

        @pytest.mark.ampdb(isolation="nested")
        def test_typo_isolation(ampdb):
            pass

        @pytest.mark.ampdb(seed="no")
        def test_typo_seed(ampdb):
            pass

        @pytest.mark.ampdb(isolatoin="database")
        def test_typo_keyword(ampdb):
            pass

        @pytest.mark.ampdb(isolation=None, seed=False)
        def test_fine(ampdb):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rE", *args)
    result.assert_outcomes(passed=1, errors=4)
    lines = [
        "*ERROR at setup of test_typo_backend*",
        "@pytest.mark.ampdb(backend='postgress'): expected one of None, 'memory', 'postgres'",
        "*ERROR at setup of test_typo_isolation*",
        "@pytest.mark.ampdb(isolation='nested'): "
        "expected one of None, 'transaction', 'database', 'truncate'",
        "*ERROR at setup of test_typo_seed*",
        "@pytest.mark.ampdb(seed='no'): expected one of True, False",
        "*ERROR at setup of test_typo_keyword*",
        "@pytest.mark.ampdb takes only keyword arguments backend, isolation, seed; got isolatoin",
    ]
    result.stdout.fnmatch_lines(lines, consecutive=True)
    assert "skipped" not in result.stdout.str()


@pytest.mark.parametrize(
    "backend", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_seed_hook_writing_through_factories_and_the_facade_seeds_every_test(
    pytester: pytest.Pytester, backend: str, request: pytest.FixtureRequest
) -> None:
    """The hook's ``repos`` is in effect while it runs: rows a factory or the facade makes there
    are seeded like its own (they went to a process default of their own, lost in both modes)."""
    args = [f"--ampdb={backend}", "-p", "no:randomly"]
    if backend == "postgres":
        args += [f"--ampdb-dsn={request.getfixturevalue('pg_admin_dsn')}"]
    pytester.makeconftest(
        """
        from pytest_ampdb import database
        from pytest_ampdb.factories import OrganizationFactory
        from pytest_ampdb.models import Organization

        def pytest_ampdb_seed(repos):
            OrganizationFactory.create(label="by a factory")
            database.organizations().create(
                Organization(label="by the facade", default_team_id="00000000-0000-4000-8000-000000000001")
            )
        """
    )
    pytester.makepyfile(
        """
        def test_a(ampdb, organization_factory):
            labels = sorted(o.label for o in ampdb.organizations.list().items)
            assert labels == ["Ampersand Local", "by a factory", "by the facade"]
            organization_factory.create(label="test_a's own")

        def test_b(ampdb):
            assert len(ampdb.organizations.list().items) == 3
        """
    )
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=2)


OUTLIVING_THREAD_SUITE = """
import threading

from pytest_ampdb import database
from pytest_ampdb.models import Organization

GO = threading.Event()
OUTCOME = []
THREADS = []
TEAM = "00000000-0000-4000-8000-000000000001"

def test_a_starts_a_thread_that_outlives_it(ampdb):
    organizations = database.organizations()  # what code under test holds on to

    def late():
        GO.wait(10)
        try:
            organizations.create(Organization(label="late", default_team_id=TEAM))
            OUTCOME.append("written")
        except Exception as exc:
            OUTCOME.append(f"{type(exc).__name__}: {exc}")

    THREADS.append(threading.Thread(target=late))
    THREADS[0].start()

def test_b_never_sees_its_write(ampdb):
    GO.set()
    THREADS[0].join(10)
    assert OUTCOME == [
        "AmpdbError: pytest-ampdb: a repository of a test that has ended was called (by a thread"
        " or task that outlived the test?): each test's repositories serve that test only"
    ]
    assert [o.label for o in ampdb.organizations.list().items] == ["Ampersand Local"]

def test_c_the_run_goes_on(ampdb):
    assert len(ampdb.organizations.list().items) == 1
"""


@pytest.mark.parametrize(
    ("backend", "isolation"),
    [
        ("memory", "transaction"),
        *(
            pytest.param("postgres", isolation, marks=pytest.mark.postgres)
            for isolation in ("transaction", "database", "truncate")
        ),
    ],
)
def test_a_thread_that_outlives_its_test_reaches_no_other_test(
    pytester: pytest.Pytester, backend: str, isolation: str, request: pytest.FixtureRequest
) -> None:
    """The repositories a thread kept past its test's end refuse its call, in every mode: in
    memory and under ``transaction`` isolation it wrote into the next test (the same store or
    connection), under ``database`` isolation the closed connection was taken for a lost server
    and every later test failed."""
    args = [f"--ampdb={backend}", f"--ampdb-isolation={isolation}", "-p", "no:randomly"]
    if backend == "postgres":
        args += [f"--ampdb-dsn={request.getfixturevalue('pg_admin_dsn')}"]
    pytester.makepyfile(OUTLIVING_THREAD_SUITE)
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=3)


@pytest.mark.parametrize(
    "backend", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_failing_seed_hook_stops_the_run_with_one_line_on_both_backends(
    pytester: pytest.Pytester, backend: str, request: pytest.FixtureRequest
) -> None:
    """A ``pytest_ampdb_seed`` hook that raises is the run's error, not one per test (as a
    postgres run, which builds the template at session start, always reported it)."""
    args = [f"--ampdb={backend}"]
    if backend == "postgres":
        dsn = request.getfixturevalue("pg_admin_dsn")
        args += ["--ampdb-postgres=dsn", f"--ampdb-dsn={dsn}"]
    pytester.makeconftest(
        """
        from pytest_ampdb.models import Destination

        def pytest_ampdb_seed(repos):
            project = repos.projects.list().items[0].id
            repos.destinations.create(
                Destination(project_id=project, name="defaultWebhook", type="webhook")
            )
        """
    )
    pytester.makepyfile("def test_a(ampdb):\n    pass\n\ndef test_b(ampdb):\n    pass\n")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest-ampdb: destinations: a row with project_id=*, name=defaultWebhook already"
            " exists"
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.postgres
def test_a_failing_database_ready_hook_is_one_line_naming_it(
    pytester: pytest.Pytester, pg_admin_dsn: str
) -> None:
    """A ``pytest_ampdb_database_ready`` implementation that raises errors the test with one
    line naming the hook and where it raised, not a traceback through the plugin's fixtures."""
    pytester.makeconftest(
        "def pytest_ampdb_database_ready(dsn):\n    raise ValueError('not ready')\n"
    )
    pytester.makepyfile("def test_a(ampdb):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--ampdb=postgres", "--ampdb-postgres=dsn", f"--ampdb-dsn={pg_admin_dsn}"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-ampdb: pytest_ampdb_database_ready (at *conftest.py:2) raised ValueError:"
            " not ready"
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "plugin.py" not in result.stdout.str()
