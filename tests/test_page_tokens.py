"""Page tokens: a token just issued and the same token decoded in full give the same page; a
token this process never issued is refused, however many were issued before it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

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


def test_a_token_holding_its_time_as_iso_text_is_still_followed(mem: Repositories) -> None:
    # tokens made before instants were written as microseconds since 1970 carried ISO text
    builder = Builder(mem)
    pid = builder.project().id
    for _ in range(3):
        builder.connection(project_id=pid)
    first = mem.connections.list(pid, page_size=1)
    last = first.items[0]
    older = json.dumps([last.create_time.isoformat(), last.id])
    token = base64.urlsafe_b64encode(older.encode()).decode()
    assert token != first.next_page_token
    following = mem.connections.list(pid, page_size=1, page_token=token)
    assert following == mem.connections.list(pid, page_size=1, page_token=first.next_page_token)
    assert following.items != first.items


def test_a_token_never_issued_is_refused(mem: Repositories) -> None:
    builder = Builder(mem)
    pid = builder.project().id
    for _ in range(3):
        builder.connection(project_id=pid)
    token = mem.connections.list(pid, page_size=1).next_page_token
    assert token is not None
    forged = base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00"]').decode()
    three = base64.urlsafe_b64encode(b"[1, 2, 3]").decode()  # no binding where one goes
    for bad in (forged, three, token[:-4], "not a token"):
        with pytest.raises(ValidationError, match="is not a token this list issued"):
            mem.connections.list(pid, page_size=1, page_token=bad)


PAGE_SCRIPT = """
import json, sys
from pytest_ampdb import database
from pytest_ampdb.errors import ValidationError
from pytest_ampdb.seeds import read_seeds

pid = read_seeds().ids.project_id
keys = database.api_keys()
if sys.argv[1] == "first":
    print(json.dumps(keys.list(pid, page_size=1).next_page_token))
else:
    every = [k.key for k in keys.list(pid).items]
    try:
        page = keys.list(pid, page_size=1, page_token=sys.argv[2])
    except ValidationError as exc:
        print(json.dumps(str(exc)))
    else:
        print(json.dumps(page.items[0].key == every[1]))
"""


def _in_a_process(secret: str | None, *args: str) -> object:
    """Run ``PAGE_SCRIPT`` in a fresh interpreter (a service instance) on the seeded memory
    store, with or without ``AMPDB_PAGE_TOKEN_SECRET``; what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPDB_")}
    env["AMPDB_BACKEND"] = "memory"
    if secret is not None:
        env[pagination.SECRET_VARIABLE] = secret
    done = subprocess.run(
        [sys.executable, "-c", PAGE_SCRIPT, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("issuer", "reader", "continues"),
    [
        ("one shared secret", "one shared secret", True),
        (None, None, False),
        ("one shared secret", "another secret", False),
    ],
    ids=["same-secret", "no-secret", "other-secret"],
)
def test_an_api_key_token_opens_in_another_instance_only_under_the_same_secret(
    issuer: str | None, reader: str | None, continues: bool
) -> None:
    """A load-balanced service's next page may be asked of another instance: with the same
    ``AMPDB_PAGE_TOKEN_SECRET`` it continues the list; otherwise the token is refused (one line),
    never opened under a wrong key."""
    token = _in_a_process(issuer, "first")
    assert isinstance(token, str)
    got = _in_a_process(reader, "next", token)
    if continues:
        assert got is True
    else:
        assert isinstance(got, str)
        assert "page_token" in got
        assert "is not a token this list issued" in got
