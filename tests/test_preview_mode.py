"""``--ampdb-postgres=preview``: the downstream suite in the branch's preview database.

The session's local cluster plays the shared development server. The suite runs twice on the
same preview; the preview's rows must be exactly as they were before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pytest_ampdb import preview
from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.models.tables import TABLES

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
BRANCH = 'feature/JIRA-1 drop"; --x'


@pytest.fixture
def shared(pg_cluster: LocalCluster) -> Iterator[str]:
    """The shared server's maintenance URL; the branch's preview is dropped afterwards."""
    dsn = pg_cluster.dsn("postgres")
    yield dsn
    if any(p.branch == BRANCH for p in preview.list_previews(dsn)):
        preview.drop(dsn, BRANCH, force=True)


def snapshot(dsn: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
            for table in TABLES
        }


def run(
    pytester: pytest.Pytester, shared: str, *args: str, suite: Path | None = ROOT / "examples"
) -> pytest.RunResult:
    """The suite (the example service's; None: the pytester folder's) on the branch's preview."""
    return pytester.runpytest_subprocess(
        "--ampdb=postgres",
        "--ampdb-postgres=preview",
        f"--ampdb-dsn={shared}",
        f"--ampdb-branch={BRANCH}",
        "-p",
        "no:randomly",
        *args,
        *([str(suite)] if suite is not None else []),
    )


def test_the_suite_passes_twice_on_one_preview_and_leaves_its_rows_alone(
    pytester: pytest.Pytester, shared: str
) -> None:
    name = preview.database_name(BRANCH)
    assert name == "pr-feature-jira-1-drop-x"

    first = run(pytester, shared)
    first.assert_outcomes(passed=17)
    first.stdout.fnmatch_lines(
        [f"ampdb: backend postgres: PostgreSQL 15.*, preview {name} of branch *, created*"]
    )
    preview_dsn = shared.replace("/postgres?", f"/{name}?")
    before = snapshot(preview_dsn)
    assert sum(len(rows) for rows in before.values()) == 27  # the seeds, nothing else

    second = run(pytester, shared)
    second.assert_outcomes(passed=17)
    second.stdout.fnmatch_lines([f"*preview {name} of branch *, up to date*"])
    assert snapshot(preview_dsn) == before
    assert [p.name for p in preview.list_previews(shared) if p.branch == BRANCH] == [name]


def test_database_isolation_clones_from_a_copy_of_the_preview(
    pytester: pytest.Pytester, shared: str
) -> None:
    run(pytester, shared).assert_outcomes(passed=17)  # creates the preview
    name = preview.database_name(BRANCH)
    before = snapshot(shared.replace("/postgres?", f"/{name}?"))
    databases = ours(shared)
    run(pytester, shared, "--ampdb-isolation=database").assert_outcomes(passed=17)
    assert snapshot(shared.replace("/postgres?", f"/{name}?")) == before
    assert ours(shared) == databases  # the copy and the per-test clones are gone


def ours(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'ampdb\\_%' ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_database_isolation_says_why_when_the_preview_cannot_be_copied(
    pytester: pytest.Pytester, shared: str
) -> None:
    run(pytester, shared).assert_outcomes(passed=17)
    name = preview.database_name(BRANCH)
    with psycopg.connect(shared.replace("/postgres?", f"/{name}?")):  # someone else is in it
        result = run(pytester, shared, "--ampdb-isolation=database")
    # the mock-only unit tests need no database; the async service's tests that reach it only
    # through async_database (no database fixture) fail in the test instead of in setup
    result.assert_outcomes(passed=5, errors=10, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*isolation 'database' (or 'truncate') clones databases from a copy of the preview, "
            "and PostgreSQL "
            f'refused to make it (source database "{name}" is being accessed by other users*'
        ]
    )


def test_a_test_marked_for_database_isolation_on_a_preview_fails_alone(
    pytester: pytest.Pytester, shared: str
) -> None:
    """The run's 'transaction' isolation is connected to the preview, so PostgreSQL refuses to
    copy it for a test marked ``isolation="database"``: that test fails with one line saying
    why and what to do; the server is not lost, so every other test still runs."""
    pytester.makepyfile(
        """
        import pytest

        def test_before(ampdb, ampdb_seed):
            assert ampdb.projects.get_by_id(ampdb_seed.project_id)

        @pytest.mark.ampdb(isolation="database")
        def test_marked(ampdb):
            pass

        def test_after(ampdb, ampdb_seed):
            assert ampdb.projects.get_by_id(ampdb_seed.project_id)
        """
    )
    result = run(pytester, shared, suite=None)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*isolation 'database' (or 'truncate') clones databases from a copy of the preview*"
            "while this run's 'transaction' isolation is connected to it: run the tests marked "
            "for another isolation on their own, with --ampdb-isolation=database"
        ]
    )
    assert "Traceback" not in result.stdout.str()
