"""The preview mark: only a comment with the prefix and a well-formed JSON object is a preview."""

from __future__ import annotations

import datetime as dt

import pytest

from pytest_ampdb.preview import marker
from pytest_ampdb.preview.marker import Mark

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def test_a_mark_round_trips_a_hostile_branch() -> None:
    branch = "feature/JIRA-1 drop\"; --x' \\ \n\x00 日本 \udcff"
    mark = Mark(branch=branch, created=NOW).ready("20261123230500", NOW + dt.timedelta(1))
    text = mark.text()
    assert text.startswith(marker.PREFIX)
    assert text.isascii()
    assert marker.parse(text) == mark


def test_a_new_mark_is_creating_and_ready_sets_the_version() -> None:
    mark = Mark(branch="b", created=NOW)
    assert mark.state == marker.CREATING
    ready = mark.ready("42", NOW, seeded=True)
    assert (ready.state, ready.version, ready.migrated, ready.seeded) == ("ready", "42", NOW, True)
    assert ready.created == NOW


@pytest.mark.parametrize(
    "comment",
    [
        None,
        "",
        "production database, do not touch",
        "pr- preview of branch x",
        marker.PREFIX,
        marker.PREFIX + "not json",
        marker.PREFIX + "[1, 2]",
        marker.PREFIX + '{"branch": "x"}',
        marker.PREFIX + '{"created": "2026-01-01T00:00:00+00:00"}',
        marker.PREFIX + '{"branch": "", "created": "2026-01-01T00:00:00+00:00"}',
        marker.PREFIX + '{"branch": "x", "created": "yesterday"}',
        marker.PREFIX + '{"branch": 1, "created": "2026-01-01T00:00:00+00:00"}',
        marker.PREFIX + '{"branch": "x", "created": "2026-01-01", "format": "v"}',
        " " + Mark(branch="x", created=NOW).text(),
    ],
)
def test_anything_else_is_not_a_mark(comment: object) -> None:
    assert marker.parse(comment) is None
