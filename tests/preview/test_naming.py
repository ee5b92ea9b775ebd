"""Branch detection and the preview database name: pr-<slug>, safe and at most 63 bytes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pytest_ampdb.preview import BranchNotFoundError, branch_name, database_name
from pytest_ampdb.preview.naming import is_preview_name, printable

SAFE = re.compile(r"^pr-[a-z0-9]+(-[a-z0-9]+)*$")


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("main", "pr-main"),
        ('feature/JIRA-1 drop"; --x', "pr-feature-jira-1-drop-x"),
        ("Feature/Add_Login", "pr-feature-add-login"),
        ("--weird--//name--", "pr-weird-name"),
        ('fix/it\'s "quoted"', "pr-fix-it-s-quoted"),
        ("a;DROP DATABASE postgres;--", "pr-a-drop-database-postgres"),
        ("release/1.2.3", "pr-release-1-2-3"),
        ("café/ünïcode-ß", "pr-caf-n-code"),
        ("日本語/feature", "pr-feature"),
        ("tab\tand\nnewline", "pr-tab-and-newline"),
        ("UPPER", "pr-upper"),
    ],
)
def test_slug_rules(branch: str, expected: str) -> None:
    assert database_name(branch) == expected


@pytest.mark.parametrize("branch", ["!!!", "日本語", "///", "\"';--"])
def test_a_branch_of_symbols_only_gets_a_hash_name(branch: str) -> None:
    name = database_name(branch)
    assert SAFE.match(name), name
    assert re.fullmatch(r"pr-[0-9a-f]{10}", name)


def test_symbol_only_branches_do_not_share_a_name() -> None:
    assert database_name("!!!") != database_name("???")


@pytest.mark.parametrize(
    "branch",
    [
        "x" * 300,
        "feature/" + "é" * 150,  # 300 bytes of UTF-8
        "a" * 60 + "/" + "b" * 10,
        "feature/" + "very-long-name-" * 20,
        "Z" * 61,  # pr- + 61 = 64 bytes: one over
    ],
)
def test_long_names_are_cut_to_63_bytes_with_a_hash(branch: str) -> None:
    name = database_name(branch)
    assert len(name.encode()) <= 63
    assert SAFE.match(name), name
    assert is_preview_name(name)


def test_a_name_of_exactly_63_bytes_is_kept_whole() -> None:
    assert database_name("a" * 60) == "pr-" + "a" * 60


def test_two_long_branches_sharing_a_prefix_get_different_names() -> None:
    prefix = "feature/" + "shared-prefix-" * 10
    first, second = database_name(prefix + "one"), database_name(prefix + "two")
    assert first != second
    assert first[:40] == second[:40]
    assert len(first) == len(second) == 63


def test_the_name_is_stable() -> None:
    branch = "feature/" + "x" * 200
    assert database_name(branch) == database_name(branch)


def test_an_empty_branch_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        database_name("")


def test_printable_escapes_control_characters() -> None:
    assert printable("a\nb\x1b[31mc") == "a\\x0ab\\x1b[31mc"
    assert printable("café/日本") == "café/日本"


# -- branch detection -------------------------------------------------------------------------


@pytest.fixture
def no_repo(tmp_path: Path) -> Path:
    """A directory inside no git repository (git fallback fails there)."""
    directory = tmp_path / "plain"
    directory.mkdir()
    return directory


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"GITHUB_HEAD_REF": "feature/pr", "GITHUB_REF_NAME": "12/merge"}, "feature/pr"),
        ({"GITHUB_HEAD_REF": "", "GITHUB_REF_NAME": "main"}, "main"),
        (
            {"CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feat/mr", "CI_COMMIT_REF_NAME": "other"},
            "feat/mr",
        ),
        ({"CI_COMMIT_REF_NAME": "gitlab-branch"}, "gitlab-branch"),
        ({"BUILDKITE_BRANCH": "bk/branch"}, "bk/branch"),
        ({"CIRCLE_BRANCH": "circle/branch"}, "circle/branch"),
        ({"JENKINS_URL": "http://ci", "BRANCH_NAME": "jenkins/branch"}, "jenkins/branch"),
        ({"JENKINS_URL": "http://ci", "GIT_BRANCH": "origin/feature/x"}, "feature/x"),
        ({"JENKINS_HOME": "/var/jenkins", "GIT_BRANCH": "refs/heads/dev"}, "dev"),
        (
            {"JENKINS_URL": "http://ci", "CHANGE_BRANCH": "feat/src", "BRANCH_NAME": "PR-7"},
            "feat/src",
        ),
    ],
)
def test_each_ci_names_the_branch(environ: dict[str, str], expected: str, no_repo: Path) -> None:
    assert branch_name(None, environ, no_repo) == expected


def test_jenkins_variables_count_only_inside_jenkins(no_repo: Path) -> None:
    with pytest.raises(BranchNotFoundError):
        branch_name(None, {"BRANCH_NAME": "x", "GIT_BRANCH": "origin/y"}, no_repo)


def test_explicit_beats_ampdb_branch_beats_ci(no_repo: Path) -> None:
    environ = {"AMPDB_BRANCH": "from-env", "GITHUB_HEAD_REF": "from-ci"}
    assert branch_name("given", environ, no_repo) == "given"
    assert branch_name(None, environ, no_repo) == "from-env"
    assert branch_name(None, {"GITHUB_HEAD_REF": "from-ci"}, no_repo) == "from-ci"


def test_blank_values_are_skipped(no_repo: Path) -> None:
    environ = {"AMPDB_BRANCH": "  ", "CIRCLE_BRANCH": "circle"}
    assert branch_name("", environ, no_repo) == "circle"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit on branch ``feature/from-git``."""
    directory = tmp_path / "repo"
    directory.mkdir()
    _git(directory, "init", "-q")
    _git(directory, "checkout", "-q", "-b", "feature/from-git")
    _git(directory, "commit", "-q", "--allow-empty", "-m", "init")
    return directory


def test_git_is_the_fallback(repo: Path) -> None:
    assert branch_name(None, {}, repo) == "feature/from-git"


def test_ci_variables_beat_git(repo: Path) -> None:
    assert branch_name(None, {"BUILDKITE_BRANCH": "bk"}, repo) == "bk"


def test_a_detached_head_is_an_error(repo: Path) -> None:
    _git(repo, "checkout", "-q", "--detach")
    with pytest.raises(BranchNotFoundError, match="detached HEAD"):
        branch_name(None, {}, repo)


def test_outside_git_and_ci_is_an_error_naming_the_ways(no_repo: Path) -> None:
    with pytest.raises(BranchNotFoundError, match="AMPDB_BRANCH") as info:
        branch_name(None, {}, no_repo)
    assert "--branch" in str(info.value)
    assert "\n" not in str(info.value)
