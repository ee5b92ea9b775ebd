"""Preview lifecycle against a real PostgreSQL 15 acting as the shared server."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb import preview
from pytest_ampdb.migrations import StatementError, write_sum
from pytest_ampdb.preview import (
    BranchCollisionError,
    EnsureReport,
    HistoryDriftError,
    NotAPreviewError,
    PreviewError,
    PreviewInUseError,
    PreviewLockTimeoutError,
    PreviewNotFoundError,
    marker,
)
from pytest_ampdb.seeds import read_seeds
from pytest_ampdb.urls import with_dbname

from ._support import comment_of, count, exists, query

SEED_ROWS = read_seeds().count()
NEW_MIGRATION = "20991231000000_add_organization_note.sql"


def org_count(dsn: str) -> int:
    return count(dsn, "organizations")


def revision_versions(dsn: str) -> list[str]:
    rows = query(dsn, "SELECT version FROM atlas_schema_revisions.atlas_schema_revisions")
    return sorted(str(r[0]) for r in rows)


def add_organization(dsn: str, label: str) -> None:
    query(
        dsn,
        "INSERT INTO organizations (id, label, default_team_id)"
        " VALUES (gen_random_uuid(), %s, gen_random_uuid())",
        (label,),
    )


def labels(dsn: str) -> set[str]:
    return {str(r[0]) for r in query(dsn, "SELECT label FROM organizations")}


def create_unmarked(server: str, name: str, comment: str | None = None) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if comment is not None:
            conn.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(name), sql.Literal(comment)
                )
            )


def set_created(server: str, name: str, created: dt.datetime) -> None:
    """Backdate a preview's mark (as if it had been made ``created``)."""
    mark = marker.parse(comment_of(server, name))
    assert mark is not None
    with psycopg.connect(server, autocommit=True) as conn:
        marker.write(conn, name, marker.Mark(**{**mark.__dict__, "created": created}))


# -- ensure -----------------------------------------------------------------------------------


def test_ensure_creates_migrates_and_seeds(server: str, migrations: Path) -> None:
    report = preview.ensure(server, "feature/first", migrations=migrations)
    files = sorted(p.name.split("_")[0] for p in migrations.glob("*.sql"))
    assert report.name == "pr-feature-first"
    assert report.dsn == with_dbname(server, "pr-feature-first")
    assert report.created
    assert report.applied == files
    assert report.version == files[-1]
    assert report.seeded == SEED_ROWS
    assert revision_versions(report.dsn) == files
    assert org_count(report.dsn) == len(read_seeds().rows["organizations"])
    mark = marker.parse(comment_of(server, report.name))
    assert mark is not None
    assert (mark.branch, mark.state, mark.version, mark.seeded) == (
        "feature/first",
        "ready",
        files[-1],
        True,
    )


def test_a_second_ensure_does_nothing(server: str, migrations: Path) -> None:
    first = preview.ensure(server, "feature/again", migrations=migrations)
    comment = comment_of(server, first.name)
    timings = []
    for _ in range(5):
        again = preview.ensure(server, "feature/again", migrations=migrations)
        timings.append(again.seconds)
        assert (again.created, again.applied, again.seeded) == (False, [], 0)
        assert again.version == first.version
    print(f"ensure up to date: best {min(timings) * 1000:.1f} ms")
    assert org_count(first.dsn) == len(read_seeds().rows["organizations"])
    assert comment_of(server, first.name) == comment  # not even the mark is rewritten


def test_ensure_without_seeds(server: str, migrations: Path) -> None:
    report = preview.ensure(server, "no-seed", migrations=migrations, seed=False)
    assert report.seeded == 0
    assert org_count(report.dsn) == 0


@pytest.mark.parametrize(
    "branch",
    [
        'feature/JIRA-1 drop"; --x',
        "x'; DROP DATABASE postgres; --",
        'a"b\\c$$d',
        "日本語/ünïcode",
        "release/" + "long-name-" * 30,
    ],
)
def test_hostile_branch_names_make_safe_previews(
    server: str, migrations: Path, branch: str
) -> None:
    report = preview.ensure(server, branch, migrations=migrations, seed=False)
    assert report.name == preview.database_name(branch)
    assert exists(server, report.name)
    assert exists(server, "postgres")
    [info] = [i for i in preview.list_previews(server) if i.name == report.name]
    assert info.branch == branch
    preview.drop(server, branch)
    assert not exists(server, report.name)


def test_two_concurrent_ensures_create_once(server: str, migrations: Path) -> None:
    barrier = threading.Barrier(2)
    reports: list[EnsureReport] = []
    errors: list[BaseException] = []
    creations: list[str] = []

    def slow_on_create(dsn: str) -> None:
        creations.append(dsn)
        time.sleep(0.3)  # keep the lock a while: the other job must wait, not race

    def job() -> None:
        try:
            barrier.wait()
            reports.append(
                preview.ensure(
                    server, "feature/race", migrations=migrations, on_create=slow_on_create
                )
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r.created for r in reports) == [False, True]
    waiter = next(r for r in reports if not r.created)
    assert waiter.applied == []
    assert len(creations) == 1
    files = sorted(p.name.split("_")[0] for p in migrations.glob("*.sql"))
    assert revision_versions(waiter.dsn) == files
    assert org_count(waiter.dsn) == len(read_seeds().rows["organizations"])


def test_a_new_migration_is_applied_without_reseeding(server: str, migrations: Path) -> None:
    first = preview.ensure(server, "feature/grow", migrations=migrations)
    add_organization(first.dsn, "written meanwhile")
    (migrations / NEW_MIGRATION).write_text("ALTER TABLE organizations ADD COLUMN note text;\n")
    write_sum(migrations)

    report = preview.ensure(server, "feature/grow", migrations=migrations)

    assert (report.created, report.applied, report.seeded) == (False, ["20991231000000"], 0)
    assert report.version == "20991231000000"
    assert "written meanwhile" in labels(report.dsn)
    assert org_count(report.dsn) == len(read_seeds().rows["organizations"]) + 1
    assert query(report.dsn, "SELECT count(note) FROM organizations") == [(0,)]
    mark = marker.parse(comment_of(server, report.name))
    assert mark is not None
    assert mark.version == "20991231000000"
    assert [i.version for i in preview.list_previews(server) if i.name == report.name] == [
        "20991231000000"
    ]


def test_migrate_applies_pending_and_never_creates(server: str, migrations: Path) -> None:
    with pytest.raises(PreviewNotFoundError, match="pr-feature-absent"):
        preview.migrate(server, "feature/absent", migrations=migrations)
    assert not exists(server, "pr-feature-absent")
    preview.ensure(server, "feature/m", migrations=migrations, seed=False)
    (migrations / NEW_MIGRATION).write_text("ALTER TABLE organizations ADD COLUMN note text;\n")
    write_sum(migrations)
    report = preview.migrate(server, "feature/m", migrations=migrations)
    assert (report.created, report.applied) == (False, ["20991231000000"])


def test_an_edited_applied_migration_is_refused_then_recreated(
    server: str, migrations: Path
) -> None:
    first = preview.ensure(server, "feature/edit", migrations=migrations)
    add_organization(first.dsn, "survives the refusal")
    edited = sorted(migrations.glob("*.sql"))[1]
    edited.write_text(edited.read_text() + "\nCREATE TABLE sneaky (id int);\n")
    write_sum(migrations)

    with pytest.raises(HistoryDriftError) as info:
        preview.ensure(server, "feature/edit", migrations=migrations)

    message = str(info.value)
    assert edited.name in message
    assert "changed" in message
    assert message.endswith("use --recreate to rebuild the preview from scratch")
    assert "\n" not in message
    assert "survives the refusal" in labels(first.dsn)  # nothing was touched

    rebuilt = preview.ensure(server, "feature/edit", migrations=migrations, recreate=True)
    assert rebuilt.created
    assert rebuilt.seeded == SEED_ROWS
    assert "survives the refusal" not in labels(rebuilt.dsn)
    assert query(rebuilt.dsn, "SELECT to_regclass('sneaky') IS NOT NULL") == [(True,)]
    assert not preview.ensure(server, "feature/edit", migrations=migrations).changed


def test_a_removed_applied_migration_is_refused(server: str, migrations: Path) -> None:
    preview.ensure(server, "feature/removed", migrations=migrations, seed=False)
    last = sorted(migrations.glob("*.sql"))[-1]
    last.unlink()
    write_sum(migrations)
    with pytest.raises(HistoryDriftError) as info:
        preview.ensure(server, "feature/removed", migrations=migrations)
    assert info.value.file == last.name
    assert "no longer there" in str(info.value)
    assert "use --recreate" in str(info.value)


def test_a_migration_merged_in_out_of_order_asks_for_a_rebuild(
    server: str, migrations: Path
) -> None:
    preview.ensure(server, "feature/merge", migrations=migrations, seed=False)
    (migrations / "20261123230050_from_main.sql").write_text("CREATE TABLE from_main (id int);\n")
    write_sum(migrations)
    with pytest.raises(PreviewError, match="added out of order") as info:
        preview.ensure(server, "feature/merge", migrations=migrations)
    assert str(info.value).endswith("use --recreate to rebuild the preview from scratch")
    rebuilt = preview.ensure(server, "feature/merge", migrations=migrations, recreate=True)
    assert "20261123230050" in rebuilt.applied


def test_recreate_refuses_live_connections_unless_forced(server: str, migrations: Path) -> None:
    first = preview.ensure(server, "feature/busy", migrations=migrations, seed=False)
    with psycopg.connect(first.dsn):
        with pytest.raises(PreviewInUseError, match="1 live connection"):
            preview.ensure(server, "feature/busy", migrations=migrations, recreate=True)
        forced = preview.ensure(
            server, "feature/busy", migrations=migrations, recreate=True, force=True, seed=False
        )
    assert forced.created


def test_a_failed_creation_leaves_nothing_behind(server: str, migrations: Path) -> None:
    (migrations / NEW_MIGRATION).write_text("ALTER TABLE nowhere ADD COLUMN x int;\n")
    write_sum(migrations)
    with pytest.raises(StatementError, match="nowhere"):
        preview.ensure(server, "feature/broken", migrations=migrations)
    assert not exists(server, "pr-feature-broken")


def test_a_preview_left_half_made_is_rebuilt(server: str, migrations: Path) -> None:
    stale = marker.Mark(branch="feature/crashed", created=dt.datetime.now(dt.UTC))
    create_unmarked(server, "pr-feature-crashed", stale.text())
    report = preview.ensure(server, "feature/crashed", migrations=migrations)
    assert report.created
    assert report.seeded == SEED_ROWS


def test_two_branches_with_the_same_slug_never_share(server: str, migrations: Path) -> None:
    preview.ensure(server, "feature/a", migrations=migrations, seed=False)
    with pytest.raises(BranchCollisionError, match="belongs to branch 'feature/a'"):
        preview.ensure(server, "feature-a", migrations=migrations, seed=False)
    with pytest.raises(BranchCollisionError):
        preview.drop(server, "feature-a")
    assert exists(server, "pr-feature-a")


def test_an_unmarked_database_with_a_preview_name_is_never_used(
    server: str, migrations: Path
) -> None:
    create_unmarked(server, "pr-something")
    with pytest.raises(NotAPreviewError, match="not marked"):
        preview.ensure(server, "something", migrations=migrations)
    with pytest.raises(NotAPreviewError):
        preview.drop(server, "something", force=True)
    assert exists(server, "pr-something")


def test_the_server_url_must_not_name_the_preview(server: str, migrations: Path) -> None:
    with pytest.raises(PreviewError, match="maintenance database"):
        preview.ensure(with_dbname(server, "pr-self"), "self", migrations=migrations)


def test_a_held_lock_times_out(server: str, migrations: Path) -> None:
    with psycopg.connect(server, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (preview.lock_key("pr-feature-locked"),))
        started = time.monotonic()
        with pytest.raises(PreviewLockTimeoutError, match="pr-feature-locked"):
            preview.ensure(server, "feature/locked", migrations=migrations, lock_timeout=0.3)
        assert time.monotonic() - started < 5
    assert not exists(server, "pr-feature-locked")


# -- drop -------------------------------------------------------------------------------------


def test_drop_refuses_live_connections_unless_forced(server: str, migrations: Path) -> None:
    report = preview.ensure(server, "feature/drop", migrations=migrations, seed=False)
    with psycopg.connect(report.dsn) as conn:
        with pytest.raises(PreviewInUseError, match="use --force"):
            preview.drop(server, "feature/drop")
        assert exists(server, report.name)
        dropped = preview.drop(server, "feature/drop", force=True)
        assert dropped.name == report.name
        assert not exists(server, report.name)
        assert conn.closed or conn.broken or _is_dead(conn)


def _is_dead(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_drop_by_database_name(server: str, migrations: Path) -> None:
    report = preview.ensure(server, "feature/by-name", migrations=migrations, seed=False)
    assert preview.drop(server, database=report.name).branch == "feature/by-name"
    assert not exists(server, report.name)


@pytest.mark.parametrize("name", ["postgres", "template1", "template0", "other_db", "pr-"])
def test_drop_refuses_non_preview_names(server: str, name: str) -> None:
    with pytest.raises(PreviewError, match="not a preview database name"):
        preview.drop(server, database=name, force=True)
    if name in ("postgres", "template1"):
        assert exists(server, name)


def test_drop_of_a_missing_preview(server: str) -> None:
    with pytest.raises(PreviewNotFoundError):
        preview.drop(server, "feature/never-made")


# -- list and prune ---------------------------------------------------------------------------


def test_list_shows_only_marked_previews(server: str, migrations: Path) -> None:
    report = preview.ensure(server, "feature/listed", migrations=migrations)
    create_unmarked(server, "pr-unmarked")
    create_unmarked(server, "pr-foreign", "ampdb-preview:not json at all")
    infos = {i.name: i for i in preview.list_previews(server)}
    assert set(infos) == {report.name}
    info = infos[report.name]
    assert info.branch == "feature/listed"
    assert info.version == report.version
    assert info.state == "ready"
    assert info.size is not None
    assert info.size > 0
    assert info.connections == 0
    assert dt.timedelta(0) <= info.age < dt.timedelta(minutes=5)


def test_prune_never_touches_unmarked_databases(server: str, migrations: Path) -> None:
    preview.ensure(server, "feature/gone", migrations=migrations, seed=False)
    create_unmarked(server, "pr-something")
    create_unmarked(server, "pr-lookalike", "preview of a branch, made by hand")
    result = preview.prune(server, keep_branches=[])
    assert [i.name for i in result.dropped] == ["pr-feature-gone"]
    assert not exists(server, "pr-feature-gone")
    assert exists(server, "pr-something")
    assert exists(server, "pr-lookalike")


def test_prune_older_than(server: str, migrations: Path) -> None:
    old = preview.ensure(server, "feature/old", migrations=migrations, seed=False)
    new = preview.ensure(server, "feature/new", migrations=migrations, seed=False)
    set_created(server, old.name, dt.datetime.now(dt.UTC) - dt.timedelta(days=10))
    result = preview.prune(server, older_than=dt.timedelta(days=7))
    assert [i.name for i in result.dropped] == [old.name]
    assert [(i.name, why) for i, why in result.kept] == [(new.name, "younger than 7d")]
    assert exists(server, new.name)
    assert not exists(server, old.name)


def test_prune_keep_branches(server: str, migrations: Path) -> None:
    alive = preview.ensure(server, "feature/alive", migrations=migrations, seed=False)
    dead = preview.ensure(server, "feature/dead", migrations=migrations, seed=False)
    result = preview.prune(server, keep_branches=["main", "feature/alive"])
    assert [i.name for i in result.dropped] == [dead.name]
    assert exists(server, alive.name)
    assert not exists(server, dead.name)


def test_prune_with_both_criteria_needs_both(server: str, migrations: Path) -> None:
    old_kept = preview.ensure(server, "old-kept", migrations=migrations, seed=False)
    old_gone = preview.ensure(server, "old-gone", migrations=migrations, seed=False)
    new_gone = preview.ensure(server, "new-gone", migrations=migrations, seed=False)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    set_created(server, old_kept.name, long_ago)
    set_created(server, old_gone.name, long_ago)
    result = preview.prune(server, older_than=dt.timedelta(days=7), keep_branches=["old-kept"])
    assert [i.name for i in result.dropped] == [old_gone.name]
    assert exists(server, old_kept.name)
    assert exists(server, new_gone.name)


def test_prune_dry_run_drops_nothing(server: str, migrations: Path) -> None:
    report = preview.ensure(server, "feature/dry", migrations=migrations, seed=False)
    result = preview.prune(server, keep_branches=[], dry_run=True)
    assert [i.name for i in result.dropped] == [report.name]
    assert exists(server, report.name)


def test_prune_keeps_previews_in_use_unless_forced(server: str, migrations: Path) -> None:
    report = preview.ensure(server, "feature/in-use", migrations=migrations, seed=False)
    with psycopg.connect(report.dsn):
        result = preview.prune(server, keep_branches=[])
        assert result.dropped == []
        assert [why for _, why in result.kept] == ["1 live connection (use --force)"]
        assert exists(server, report.name)
        forced = preview.prune(server, keep_branches=[], force=True)
    assert [i.name for i in forced.dropped] == [report.name]
    assert not exists(server, report.name)


def test_prune_skips_a_preview_another_job_holds(server: str, migrations: Path) -> None:
    report = preview.ensure(server, "feature/held", migrations=migrations, seed=False)
    with psycopg.connect(server, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (preview.lock_key(report.name),))
        result = preview.prune(server, keep_branches=[])
    assert result.dropped == []
    assert "locked" in result.kept[0][1]
    assert exists(server, report.name)


def test_prune_without_a_criterion_is_refused(server: str, migrations: Path) -> None:
    report = preview.ensure(server, "feature/safe", migrations=migrations, seed=False)
    with pytest.raises(PreviewError, match="--older-than and/or --keep-branches"):
        preview.prune(server)
    assert exists(server, report.name)
