"""A lookup, list or write given ``None`` for a key it needs must find nothing and change nothing.

Optional filters (``connections.list(provider=None)``) mean "any"; a required key never does:
``api_keys.get_by_key(request.headers.get("X-Api-Key"))`` with the header missing must not
authenticate as some key, and ``get_by_id(None, id)`` must not cross the project boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_ampdb.errors import NotFoundError, ValidationError
from pytest_ampdb.models import OperationStatus
from pytest_ampdb.types import Repositories

from .builders import Builder

Call = Callable[[Repositories, dict[str, Any]], object]
NONE: Any = None  # what a caller holding an unset value passes

LOOKUPS: dict[str, Call] = {
    "api_keys.get_by_key(None)": lambda r, x: r.api_keys.get_by_key(NONE),
    "organizations.get_by_id(None)": lambda r, x: r.organizations.get_by_id(NONE),
    "projects.get_by_id(None)": lambda r, x: r.projects.get_by_id(NONE),
    "projects.get_by_name(None)": lambda r, x: r.projects.get_by_name(NONE),
    "destinations.get_by_id(None, id)": lambda r, x: r.destinations.get_by_id(NONE, x["dest"].id),
    "destinations.get_by_id(project, None)": lambda r, x: r.destinations.get_by_id(x["pid"], NONE),
    "destinations.get_by_name(None, name)": lambda r, x: r.destinations.get_by_name(
        NONE, x["dest"].name
    ),
    "integrations.get_by_name(project, None)": lambda r, x: r.integrations.get_by_name(
        x["pid"], NONE
    ),
    "installations.get_by_group_ref(project, None, ref)": lambda r, x: (
        r.installations.get_by_group_ref(x["pid"], NONE, x["inst"].group_ref)
    ),
    "provider_apps.get_by_provider(project, None)": lambda r, x: r.provider_apps.get_by_provider(
        x["pid"], NONE
    ),
    "read_states.get(project, None, object)": lambda r, x: r.read_states.get(
        x["pid"], NONE, x["state"].object_name
    ),
}

LISTS: dict[str, Call] = {
    "destinations.list(None)": lambda r, x: r.destinations.list(NONE),
    "operations.list_by_installation(project, None)": lambda r, x: (
        r.operations.list_by_installation(x["pid"], NONE)
    ),
    "revisions.list_by_integration(project, None)": lambda r, x: r.revisions.list_by_integration(
        x["pid"], NONE
    ),
}


@pytest.fixture
def world(build: Builder) -> dict[str, Any]:
    """One project with a row in the tables the calls above read."""
    inst = build.installation()
    pid = inst.project_id
    build.operation(project_id=pid, installation_id=inst.id)
    build.revision(project_id=pid, integration_id=inst.integration_id)
    build.provider_app(project_id=pid)
    build.api_key(project_id=pid)
    state = build.read_state(project_id=pid, installation_id=inst.id)
    return {"pid": pid, "inst": inst, "state": state, "dest": build.destination(project_id=pid)}


@pytest.mark.parametrize("call", list(LOOKUPS))
def test_a_lookup_by_none_finds_nothing(
    repos: Repositories, world: dict[str, Any], call: str
) -> None:
    with pytest.raises((NotFoundError, ValidationError)):
        LOOKUPS[call](repos, world)


@pytest.mark.parametrize("call", list(LISTS))
def test_a_list_by_none_is_refused(repos: Repositories, world: dict[str, Any], call: str) -> None:
    with pytest.raises(ValidationError):
        LISTS[call](repos, world)


def test_writes_by_none_change_nothing(repos: Repositories, world: dict[str, Any]) -> None:
    pid, dest = world["pid"], world["dest"]
    op = repos.operations.list_by_installation(pid, world["inst"].id)[0]
    with pytest.raises((NotFoundError, ValidationError)):
        repos.destinations.delete(NONE, dest.id)
    with pytest.raises((NotFoundError, ValidationError)):
        repos.operations.transition(NONE, op.id, OperationStatus.RUNNING)
    assert repos.destinations.get_by_id(pid, dest.id) == dest
    assert repos.operations.get_by_id(pid, op.id) == op
