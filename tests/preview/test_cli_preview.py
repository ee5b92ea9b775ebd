"""``ampdb preview ...`` end to end on a real PostgreSQL 15: the issue's done-when scenario."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from pytest_ampdb.cli import main
from pytest_ampdb.migrations import write_sum
from pytest_ampdb.paths import migrations_dir
from pytest_ampdb.preview import database_name
from pytest_ampdb.seeds import read_seeds
from pytest_ampdb.urls import with_dbname

from ._support import count, exists

HOSTILE = 'feature/JIRA-1 drop"; --x'
NEW_MIGRATION = "20991231000000_later.sql"
SHIPPED = sorted(migrations_dir().glob("*.sql"))
LATEST = SHIPPED[-1].name.split("_", 1)[0]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["preview", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_done_when_create_again_list_drop(
    server: str, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = database_name(HOSTILE)
    base = ("--branch", HOSTILE, "--server", server, "--dir", str(migrations))

    code, out, err = run(capsys, "create", *base)
    assert (code, err) == (0, "")
    assert out.startswith(f"created preview {name} (branch ")
    assert f"{len(SHIPPED)} migrations applied" in out
    assert exists(server, name)
    dsn = with_dbname(server, name)
    assert count(dsn, "projects") > 0

    code, out, err = run(capsys, "create", *base)
    assert (code, err) == (0, "")
    assert (
        out
        == f'preview {name} (branch "feature/JIRA-1 drop\\"; --x") is up to date at version {LATEST}\n'
    )

    code, out, err = run(capsys, "list", "--server", server)
    assert (code, err) == (0, "")
    header, row = out.splitlines()
    assert header.split() == ["BRANCH", "DATABASE", "AGE", "SIZE", "VERSION"]
    assert row.startswith(HOSTILE + "  ")
    assert name in row
    assert row.endswith(LATEST)
    assert header.index("DATABASE") == row.index(name)  # columns are aligned

    code, out, err = run(capsys, "list", "--json", "--server", server)
    [entry] = json.loads(out)
    assert (entry["branch"], entry["database"], entry["state"]) == (HOSTILE, name, "ready")

    code, out, err = run(capsys, "drop", "--branch", HOSTILE, "--server", server)
    assert (code, err) == (0, "")
    assert out.startswith(f"dropped preview {name}")
    assert not exists(server, name)

    code, out, _ = run(capsys, "list", "--server", server)
    assert (code, out) == (0, "no previews on this server\n")


def test_migrate_never_creates(
    server: str, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "migrate", "--branch", "absent", "--server", server, "--dir", str(migrations)
    )
    assert (code, out) == (1, "")
    assert err == "ampdb: error: no preview 'pr-absent' of branch 'absent' on this server\n"
    assert not exists(server, "pr-absent")


def test_the_server_and_branch_come_from_the_environment(
    server: str,
    migrations: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AMPDB_PREVIEW_SERVER", server)
    monkeypatch.setenv("AMPDB_BRANCH", "from-env")
    code, out, _ = run(capsys, "create", "--no-seed", "--dir", str(migrations))
    assert code == 0
    assert "pr-from-env" in out
    assert "0 seed rows loaded" in out
    (migrations / NEW_MIGRATION).write_text("CREATE TABLE later (id int);\n")
    write_sum(migrations)
    code, out, _ = run(capsys, "migrate", "--dir", str(migrations))
    assert (code, out.split(":")[0]) == (0, 'migrated preview pr-from-env (branch "from-env")')
    assert "1 migration applied; version 20991231000000" in out
    code, out, _ = run(capsys, "drop")
    assert code == 0
    assert not exists(server, "pr-from-env")


def test_an_edited_migration_fails_with_the_hint_then_recreate(
    server: str, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--branch", "feature/edit", "--server", server, "--dir", str(migrations))
    assert run(capsys, "create", "--no-seed", *base)[0] == 0
    first = sorted(migrations.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\nSELECT 1;\n")
    write_sum(migrations)

    code, out, err = run(capsys, "create", "--no-seed", *base)
    assert (code, out) == (1, "")
    assert err == (
        f"ampdb: error: migration {first.name} changed after it was applied to preview "
        "'pr-feature-edit'; use --recreate to rebuild the preview from scratch\n"
    )
    code, out, err = run(capsys, "create", "--no-seed", "--recreate", *base)
    assert (code, err) == (0, "")
    assert out.startswith("created preview pr-feature-edit")


def test_drop_refuses_a_busy_preview_unless_forced(
    server: str, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--branch", "busy", "--server", server)
    assert run(capsys, "create", "--no-seed", "--dir", str(migrations), *base)[0] == 0
    with psycopg.connect(with_dbname(server, "pr-busy")):
        code, _, err = run(capsys, "drop", *base)
        assert code == 1
        assert "1 live connection" in err
        assert exists(server, "pr-busy")
        assert run(capsys, "drop", "--force", *base)[0] == 0
    assert not exists(server, "pr-busy")


def test_prune_output(server: str, migrations: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for branch in ("keep-me", "lose-me"):
        assert (
            run(
                capsys,
                "create",
                "--no-seed",
                "--dir",
                str(migrations),
                "--branch",
                branch,
                "--server",
                server,
            )[0]
            == 0
        )
    code, out, _ = run(capsys, "prune", "--server", server, "--keep-branches", "keep-me", "main")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith('dropped pr-lose-me (branch "lose-me", age ')
    assert lines[1:] == [
        'kept pr-keep-me (branch "keep-me"): its branch is kept',
        "dropped 1 previews, kept 1",
    ]
    assert exists(server, "pr-keep-me")
    assert not exists(server, "pr-lose-me")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["list"], "the --server flag is required (or set AMPDB_PREVIEW_SERVER)"),
        (
            ["prune", "--server", "postgresql:///x"],
            "prune needs --older-than and/or --keep-branches",
        ),
        (
            ["prune", "--server", "postgresql:///x", "--older-than", "soon"],
            "invalid duration 'soon'",
        ),
    ],
)
def test_bad_usage_exits_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AMPDB_PREVIEW_SERVER", raising=False)
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_no_branch_anywhere_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AMPDB_BRANCH", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME",
                 "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "BUILDKITE_BRANCH", "CIRCLE_BRANCH",
                 "JENKINS_URL", "JENKINS_HOME"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "create", "--server", "postgresql:///x")
    assert code == 2
    assert "no branch name" in err


def test_a_password_is_never_printed(
    server: str, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The test cluster trusts local connections, so a URL with a password still connects.
    with_password = urlunsplit(urlsplit(server)._replace(netloc="postgres:s3cr3t-pw@"))
    args = ("--server", with_password, "--dir", str(migrations), "--no-seed")
    code, out, err = run(capsys, "create", "--branch", "pw", *args)
    assert code == 0
    assert "s3cr3t-pw" not in out + err
    code, out, err = run(capsys, "list", "--server", with_password)
    assert code == 0
    assert "s3cr3t-pw" not in out + err
    unreachable = "postgresql://postgres:s3cr3t-pw@127.0.0.1:1/postgres"
    code, out, err = run(capsys, "create", "--branch", "pw", "--server", unreachable)
    assert code == 1
    assert "s3cr3t-pw" not in out + err
    assert err.startswith("ampdb: error: ")
    assert err.count("\n") == 1


def test_the_installed_command_runs(server: str, migrations: Path) -> None:
    args = ["--branch", HOSTILE, "--server", server, "--dir", str(migrations), "--no-seed"]
    script = "import sys; from pytest_ampdb.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", script, "preview", "create", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert exists(server, database_name(HOSTILE))


def test_two_ci_jobs_of_one_branch_create_it_once(server: str, migrations: Path) -> None:
    script = "import sys; from pytest_ampdb.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", script, "preview", "create", "--branch", "feature/ci"]
    argv += ["--server", server, "--dir", str(migrations)]
    jobs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [job.communicate(timeout=120) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], results
    outs = sorted(out for out, _ in results)
    assert outs[0].startswith("created preview pr-feature-ci ")
    assert outs[1].startswith("preview pr-feature-ci ")
    assert "is up to date" in outs[1]
    seeded = len(read_seeds().rows["organizations"])
    assert count(with_dbname(server, "pr-feature-ci"), "organizations") == seeded
