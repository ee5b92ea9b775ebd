"""A project's own entity with a secret field (a webhook's signing token) is treated as the
packaged ``api_keys.key`` is: masked in its repr and ``==`` output, in every error that names
it, and sealed in page tokens, by subclassing ``Model`` and naming the field in ``secrets``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import pytest

from pytest_ampdb.errors import AlreadyExistsError
from pytest_ampdb.memory import MemoryStore, repositories
from pytest_ampdb.models import Model, Organization, Project
from pytest_ampdb.models.columns import Id
from pytest_ampdb.models.declared import extend
from pytest_ampdb.models.ids import new_id
from pytest_ampdb.models.schema import ForeignKey, OnDelete, TableSpec, UniqueKey

TOKEN = "whsec_3f9a1c7e5b2d4f6a8c0e"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedHook(Model):
    secrets: ClassVar[frozenset[str]] = frozenset({"token"})
    id: Id = field(default_factory=new_id)
    project_id: Id
    token: str
    create_time: datetime | None = None
    update_time: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlainHook(Model):
    """The same entity with nothing declared secret: what the checks below tell apart."""

    id: Id = field(default_factory=new_id)
    project_id: Id
    token: str
    create_time: datetime | None = None
    update_time: datetime | None = None


def _spec(name: str, model: type[Any]) -> TableSpec[Any]:
    return TableSpec(
        name=name,
        model=model,
        unique=(UniqueKey(f"{name}_token_key", ("token",)),),
        foreign_keys=(
            ForeignKey(f"{name}_project_id_fkey", "project_id", "projects", OnDelete.CASCADE),
        ),
        order_by=("token", "id"),
    )


TABLES = extend(tables=[_spec("signed_hooks", SignedHook), _spec("plain_hooks", PlainHook)])


def _decoded(token: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return b""


@pytest.mark.parametrize(("model", "secret"), [(SignedHook, True), (PlainHook, False)])
def test_a_field_named_in_secrets_is_never_shown(model: type[Any], secret: bool) -> None:
    repos = repositories(MemoryStore(TABLES))
    org = repos.organizations.create(Organization(label="o", default_team_id=new_id()))
    pid = repos.projects.create(Project(organization_id=org.id, name="hooks", app_name="a")).id
    hooks = repos.of(model)
    made = hooks.create(model(project_id=pid, token=TOKEN))
    hooks.create(model(project_id=pid, token=TOKEN + "-2"))

    assert (TOKEN in repr(made)) is not secret
    with pytest.raises(AlreadyExistsError) as caught:
        hooks.create(model(project_id=pid, token=TOKEN))
    assert (TOKEN in str(caught.value)) is not secret
    page = hooks.list(pid, page_size=1)
    assert page.next_page_token is not None
    assert (TOKEN.encode() in _decoded(page.next_page_token)) is not secret
    assert hooks.list(pid, page_size=1, page_token=page.next_page_token).items[0].token == (
        TOKEN + "-2"
    )
