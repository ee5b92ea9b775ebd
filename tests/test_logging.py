"""``--log-cli-level=DEBUG`` shows where a run's time went, under the ``pytest_ampdb`` logger."""

from __future__ import annotations

import re

import pytest

from pytest_ampdb.harness.provisioning import LocalCluster

pytestmark = pytest.mark.postgres


@pytest.fixture
def binaries(pg_cluster: LocalCluster) -> None:
    """PostgreSQL 15 binaries are here (the shared cluster's fixture skips or fails otherwise)."""


def test_a_postgres_run_logs_each_step_with_its_duration(
    pytester: pytest.Pytester, binaries: None
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.ampdb(isolation="database")
        def test_one(ampdb):
            assert ampdb.projects.list().items
        """
    )
    result = pytester.runpytest_subprocess(
        "--ampdb=postgres",
        "--ampdb-postgres=local",
        "--log-cli-level=DEBUG",
        "-p",
        "no:randomly",
    )
    assert result.ret == 0, result.stdout.str()
    lines = [line for line in result.stdout.lines if "pytest_ampdb" in line]
    said = "\n".join(lines)

    def logged(logger: str, message: str) -> None:
        pattern = rf"{re.escape(logger)}.*{message}.* in \d+\.\d{{3}} s"
        assert re.search(pattern, said), f"{logger}: {message!r} not in:\n{said}"

    local = "pytest_ampdb.harness.provisioning.local"
    logged(local, "local cluster: initdb cache: (built|reused)")
    logged(local, "local cluster: postgres start: port \\d+")
    logged(local, "local cluster: sweep of dead runs' clusters: \\d+ removed")
    logged("pytest_ampdb.harness.provisioning.select", "server: local cluster")
    template = "pytest_ampdb.harness.template"
    logged(template, "template ampdb_tpl_[0-9a-f]+: (built|reused)")
    logged(template, "sweep of dead runs' databases: \\d+ dropped")
    logged(
        template, "clone ampdb_run_\\w+ from ampdb_tpl_[0-9a-f]+ \\((FILE_COPY|WAL_LOG)\\): done"
    )
    logged(template, "drop ampdb_run_\\w+: dropped")
