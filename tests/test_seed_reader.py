"""Seed files that JSON would accept but that lose data silently are refused by name."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from pytest_ampdb import memory, migrations, postgres
from pytest_ampdb.models.schema import BEYOND_9999
from pytest_ampdb.paths import seeds_dir
from pytest_ampdb.seeds import SeedError, load_into_store, read_seeds
from pytest_ampdb.seeds.postgres import load_into_postgres


def _copy(tmp_path: Path) -> Path:
    directory = tmp_path / "seed"
    shutil.copytree(seeds_dir(), directory)
    return directory


def test_a_key_given_twice_in_a_row_names_file_table_row_and_key(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    path = directory / "organizations.json"
    text = path.read_text(encoding="utf-8")
    # The second "label" would silently win under plain json.loads.
    path.write_text(text.replace('"label":', '"label": "first",\n    "label":', 1), "utf-8")
    before = path.read_bytes()
    with pytest.raises(SeedError) as info:
        read_seeds(directory)
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        f"{path}: row 1: key 'label' appears twice in organizations (JSON keeps only the last one)"
    )
    assert path.read_bytes() == before


def test_a_key_given_twice_in_a_nested_object_is_refused_too(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    path = directory / "organizations.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"update_time": null', '"update_time": {"a": 1, "a": 2}'), "utf-8")
    with pytest.raises(SeedError, match=r"row 1: key 'a' appears twice in organizations"):
        read_seeds(directory)


def test_hidden_files_in_the_seed_directory_are_not_seed_files(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    # Emacs's lock file and macOS's AppleDouble file sit beside the file being edited.
    (directory / ".#projects.json").write_text("not json", "utf-8")
    (directory / "._projects.json").write_bytes(b"\x00\x05\x16\x07")
    assert read_seeds(directory).rows == read_seeds().rows


def test_the_packaged_seeds_have_no_repeated_key() -> None:
    assert read_seeds().rows["organizations"]


@pytest.mark.parametrize(
    "backend", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_seed_time_past_9999_in_utc_loads_in_both_backends(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """The repositories store such a time (at ``BEYOND_9999``, UTC-23:59); a seed row holding
    one loads into PostgreSQL too (COPY in text would send the -23:59 offset, which PostgreSQL's
    input refuses) and reads back the same in both backends."""
    directory = _copy(tmp_path)
    path = directory / "destinations.json"
    rows = json.loads(path.read_text())
    rows.append(
        {
            **rows[0],
            "id": "a0000008-0000-4000-8000-0000000000ff",
            "name": "far-future",
            "create_time": "9999-12-31T23:30:00.25-05:00",
        }
    )
    path.write_text(json.dumps(rows))
    seeds = read_seeds(directory)
    if backend == "memory":
        store = memory.MemoryStore()
        load_into_store(store, seeds)
        repos = memory.repositories(store)
    else:
        dsn: str = request.getfixturevalue("fresh_database")
        migrations.apply(dsn)
        conn = psycopg.connect(dsn)
        request.addfinalizer(conn.close)
        load_into_postgres(conn, seeds)
        conn.commit()
        postgres.configure_connection(conn)
        repos = postgres.repositories(conn)
    stored = repos.destinations.get_by_name(seeds.ids.project_id, "far-future")
    assert stored.create_time == datetime(
        9999, 12, 31, 23, 30, 0, 250000, tzinfo=timezone(-timedelta(hours=5))
    )
    assert stored.create_time.utcoffset() == BEYOND_9999.utcoffset(None)
