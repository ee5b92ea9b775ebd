"""Page tokens: a token just issued and the same token decoded in full give the same page; a
token this process never issued is refused, however many were issued before it."""

from __future__ import annotations

import base64

import pytest
from contract.builders import Builder

from pytest_ampdb import memory
from pytest_ampdb.errors import ValidationError
from pytest_ampdb.repositories import pagination
from pytest_ampdb.types import Repositories


@pytest.fixture
def mem() -> Repositories:
    return memory.repositories(memory.MemoryStore())


@pytest.mark.parametrize("table", ["connections", "api_keys"])
def test_a_token_gives_the_same_page_whether_remembered_or_decoded_in_full(
    mem: Repositories, table: str
) -> None:
    builder = Builder(mem)
    pid = builder.project().id
    make = builder.connection if table == "connections" else builder.api_key
    for _ in range(5):
        make(project_id=pid)
    repository = getattr(mem, table)
    first = repository.list(pid, page_size=2)
    token = first.next_page_token
    assert token is not None
    remembered = repository.list(pid, page_size=2, page_token=token)
    pagination._issued.clear()  # as after ISSUED_LIMIT more tokens, or in another test
    decoded = repository.list(pid, page_size=2, page_token=token)
    assert decoded == remembered
    assert [item for item in remembered.items if item in first.items] == []
    if table == "api_keys":  # sealed: the token does not carry the key it continues after
        shown = base64.urlsafe_b64decode(token).decode()
        assert all(item.key not in shown for item in first.items)


def test_a_token_never_issued_is_refused(mem: Repositories) -> None:
    builder = Builder(mem)
    pid = builder.project().id
    for _ in range(3):
        builder.connection(project_id=pid)
    token = mem.connections.list(pid, page_size=1).next_page_token
    assert token is not None
    forged = base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00"]').decode()
    for bad in (forged, token[:-4], "not a token"):
        with pytest.raises(ValidationError, match="page_token"):
            mem.connections.list(pid, page_size=1, page_token=bad)
