"""No password in any output: one catalog of DSN forms through every channel.

A role's password holds ``@ : / % space '``; it is given as a URL (percent-encoded), in
key=value form (quoted), through ``PGPASSWORD`` and through a ``.pgpass`` file, and, spelled the
way libpq cannot parse, raw in a URL and unquoted in key=value form (libpq's own parse errors
quote the text around the fault). Each form goes through a pytest run (``-rA --tb=long -l``,
debug logging, junit XML, a failed ``database``-isolation test whose database is kept, a failed
assertion on ``ampdb_dsn``) and through every ``ampdb`` command taking ``--url`` / ``--server``
(and argparse's "unrecognized arguments"). No output may hold any piece of the password: every
piece of it starts with ``sek``, which appears nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from pytest_ampdb.harness.provisioning import LocalCluster

from .conftest import (
    Figures,
    Run,
    run_ampdb,
    run_pytest,
    scram_cluster,
    stopwatch,
    url_commands,
    write,
)

PASSWORD = "sekA@sekB:sekC/sekD%sekE sekF'sekG"
PIECE = re.compile("sek", re.IGNORECASE)
ROLE = "ampdb_secret"
TARGET = "secret_target"


@dataclass(frozen=True)
class Form:
    """One way of handing the password over: the DSN (for a database) and the environment."""

    id: str
    parses: bool

    def dsn(self, port: int, dbname: str = "postgres") -> str:
        host = f"127.0.0.1:{port}"
        if self.id == "url":
            return f"postgresql://{ROLE}:{quote(PASSWORD, safe='')}@{host}/{dbname}"
        if self.id == "key=value":
            quoted = PASSWORD.replace("\\", "\\\\").replace("'", "\\'")
            return f"host=127.0.0.1 port={port} user={ROLE} dbname={dbname} password='{quoted}'"
        if self.id == "raw url":
            return f"postgresql://{ROLE}:{PASSWORD}@{host}/{dbname}"
        if self.id == "unquoted key=value":
            return f"host=127.0.0.1 port={port} user={ROLE} dbname={dbname} password={PASSWORD}"
        return f"postgresql://{ROLE}@{host}/{dbname}"  # PGPASSWORD, .pgpass

    def env(self, port: int, home: Path) -> dict[str, str]:
        if self.id == "PGPASSWORD":
            return {"PGPASSWORD": PASSWORD}
        if self.id == ".pgpass":
            escaped = PASSWORD.replace("\\", "\\\\").replace(":", "\\:")
            path = home / "pgpass"
            path.write_text(f"127.0.0.1:{port}:*:{ROLE}:{escaped}\n")
            path.chmod(0o600)
            return {"PGPASSFILE": str(path)}
        return {}


FORMS = [
    Form("url", True),
    Form("key=value", True),
    Form("PGPASSWORD", True),
    Form(".pgpass", True),
    Form("raw url", False),
    Form("unquoted key=value", False),
]

SUITE = """
import logging
import pytest

def test_passes(ampdb, ampdb_dsn):
    logging.getLogger("app").debug("tables: %d", len(ampdb.projects.list().items))

@pytest.mark.ampdb(isolation="database")
def test_fails_and_its_database_is_kept(ampdb, ampdb_dsn):
    url = ampdb_dsn
    assert url == "something else"
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    sql_password = PASSWORD.replace("'", "''")
    with scram_cluster(
        f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{sql_password}'",
        f"CREATE DATABASE {TARGET}",
    ) as found:
        yield found


def _assert_no_piece(run: Run, *files: Path) -> None:
    texts = {"output": run.output, **{str(f): f.read_text() for f in files if f.exists()}}
    for where, text in texts.items():
        found = PIECE.search(text)
        assert found is None, (
            f"{where} holds the password: ...{text[max(0, found.start() - 80) : found.end() + 40]}...\n{run.describe()}"
        )


@pytest.mark.postgres
@pytest.mark.parametrize("form", FORMS, ids=[f.id for f in FORMS])
def test_no_channel_prints_the_password(
    form: Form, cluster: LocalCluster, tmp_path: Path, figure: Figures
) -> None:
    project = tmp_path / "project"
    write(project / "test_suite.py", SUITE)
    env = form.env(cluster.port, tmp_path)
    server, target = form.dsn(cluster.port), form.dsn(cluster.port, TARGET)
    junit = project / "report.xml"
    since = stopwatch()
    result = run_pytest(
        project,
        "--ampdb=postgres",
        f"--ampdb-dsn={server}",
        "-rA",
        "--tb=long",
        "-l",
        "--log-level=DEBUG",
        f"--junitxml={junit}",
        env=env,
        timeout=120,
    )
    assert not result.timed_out, result.describe()
    if form.parses:  # it ran: one test passed, one failed and its database was kept
        assert "1 failed, 1 passed" in result.stdout, result.describe()
        assert "ampdb_kept_database" in junit.read_text(), result.describe()
    else:
        lines = result.error_lines("ERROR: pytest-ampdb:")
        assert len(lines) == 1, result.describe()
        assert "--ampdb-dsn cannot be parsed" in lines[0], lines[0]
    _assert_no_piece(result, junit)
    for args in [
        *url_commands(target, server, "secret/leak"),
        ("preview", "list", server),  # argparse: "unrecognized arguments" echoes it
    ]:
        ran = run_ampdb(project, *args, env=env, timeout=60)
        assert not ran.timed_out, ran.describe()
        _assert_no_piece(ran)
        if not form.parses:
            assert "cannot be parsed" in ran.stderr or "unrecognized" in ran.stderr, ran.describe()
    figure(f"password ({form.id}) through pytest and 11 ampdb commands: none printed", since())


@pytest.mark.parametrize("form", [f for f in FORMS if not f.parses], ids=lambda f: f.id)
def test_the_production_pool_refuses_an_unparsable_dsn_without_quoting_it(form: Form) -> None:
    from pytest_ampdb import postgres
    from pytest_ampdb.urls import DsnError

    with pytest.raises(DsnError) as refused:
        postgres.connect(form.dsn(5432), open=False)
    assert "cannot be parsed" in str(refused.value)
    assert PIECE.search(str(refused.value)) is None, str(refused.value)


def test_the_production_pool_has_a_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_ampdb import postgres

    # an in-process ``ampdb`` run of an earlier test sets it, as the CLI does for its process
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)

    pool = postgres.connect(Form("url", True).dsn(5432), open=False)
    assert pool.kwargs["connect_timeout"] == 10
    assert "sek" not in repr(pool)
