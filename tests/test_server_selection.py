"""Server selection: one function picks the server source from the mode, the settings and the
environment; a preview is picked from every way a user can ask for it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.harness.provisioning.request import ServerRequest
from pytest_ampdb.harness.provisioning.select import Selection, select_source
from pytest_ampdb.harness.settings import Option, Settings, resolve
from pytest_ampdb.modes import ServerSource

SHARED = "postgresql://ci@shared.example:5432/postgres"
OTHER = "postgresql://ci@other.example:5432/postgres"


def selected(
    cli: Mapping[str, Any] = {},
    ini: Mapping[str, Any] = {},
    environ: Mapping[str, str] = {},
) -> Selection:
    """The selection for a run resolved from flags, ini keys and environment variables."""

    def flag(option: Option) -> Any:
        return cli.get(option.flag)

    def ini_key(option: Option) -> Any:
        return ini.get(option.ini)

    settings = resolve(flag, ini_key, environ)
    return select_source(ServerRequest.of(settings, Path.cwd()), environ)


@pytest.mark.parametrize(
    ("cli", "ini", "environ"),
    [
        pytest.param({"--ampdb-postgres": "preview", "--ampdb-dsn": SHARED}, {}, {}, id="flags"),
        pytest.param(
            {}, {}, {"AMPDB_POSTGRES": "preview", "AMPDB_PREVIEW_SERVER": SHARED}, id="env"
        ),
        pytest.param({}, {}, {"AMPDB_POSTGRES": "preview", "AMPDB_DSN": SHARED}, id="env-dsn"),
        pytest.param({}, {"ampdb_postgres": "preview", "ampdb_dsn": SHARED}, {}, id="ini"),
        pytest.param(
            {"--ampdb-postgres": "preview"},
            {},
            {"AMPDB_PREVIEW_SERVER": SHARED},
            id="flag-and-preview-server-env",
        ),
        pytest.param(
            {"--ampdb-postgres": "preview", "--ampdb-dsn": SHARED},
            {},
            {"AMPDB_PREVIEW_SERVER": OTHER},
            id="flag-dsn-before-preview-server-env",
        ),
    ],
)
def test_preview_is_selected_from_each_way_a_user_asks_for_it(
    cli: dict[str, Any], ini: dict[str, Any], environ: dict[str, str]
) -> None:
    assert selected(cli, ini, environ) == Selection(ServerSource.PREVIEW, SHARED)


def test_a_configure_hook_setting_preview_selects_it() -> None:
    settings = Settings(postgres=ServerSource.PREVIEW)  # as pytest_ampdb_configure may set it
    request = ServerRequest.of(settings, Path.cwd())
    chosen = select_source(request, {"AMPDB_PREVIEW_SERVER": SHARED})
    assert chosen == Selection(ServerSource.PREVIEW, SHARED)


def test_preview_without_a_server_is_one_line_naming_both_ways() -> None:
    with pytest.raises(ProvisioningError) as caught:
        selected({"--ampdb-postgres": "preview"})
    assert str(caught.value) == (
        "--ampdb-postgres=preview needs the shared server: --ampdb-dsn or "
        "AMPDB_PREVIEW_SERVER (a URL of its maintenance database)"
    )


def test_the_preview_server_variable_alone_does_not_turn_a_run_into_a_preview() -> None:
    environ = {"AMPDB_PREVIEW_SERVER": SHARED, "AMPDB_DSN": OTHER}
    assert selected(environ=environ) == Selection(ServerSource.DSN, OTHER)


@pytest.mark.parametrize("source", [ServerSource.CONTAINER, ServerSource.LOCAL])
def test_a_started_server_is_selected_as_asked(source: ServerSource) -> None:
    assert selected({"--ampdb-postgres": str(source)}) == Selection(source)


def test_dsn_mode_takes_the_given_url_and_needs_one() -> None:
    assert selected({"--ampdb-postgres": "dsn", "--ampdb-dsn": OTHER}) == Selection(
        ServerSource.DSN, OTHER
    )
    with pytest.raises(ProvisioningError, match=r"^--ampdb-postgres=dsn needs --ampdb-dsn"):
        selected({"--ampdb-postgres": "dsn"})
