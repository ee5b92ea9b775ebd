"""Seed files that JSON would accept but that lose data silently are refused by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_ampdb.paths import seeds_dir
from pytest_ampdb.seeds import SeedError, read_seeds


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


def test_the_packaged_seeds_have_no_repeated_key() -> None:
    assert read_seeds().rows["organizations"]
