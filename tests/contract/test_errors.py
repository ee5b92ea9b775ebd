"""The errors a backend raises survive what Python does with exceptions: pickling (a worker
process of ``ProcessPoolExecutor`` or multiprocessing hands its error back that way) and
``copy``. Each comes back as the same class with the same message and attributes."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import uuid
from collections.abc import Callable

import pytest

from pytest_ampdb.errors import (
    AlreadyExistsError,
    AmpdbError,
    ForeignKeyError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from pytest_ampdb.models import OperationStatus
from pytest_ampdb.types import Repositories

from .builders import Builder


def _raised(call: Callable[[], object]) -> AmpdbError:
    with pytest.raises(AmpdbError) as caught:
        call()
    return caught.value


def _failures(build: Builder, repos: Repositories) -> dict[type[AmpdbError], AmpdbError]:
    """One error of each public class, as the backend raised it."""
    destination = build.destination()
    operation = build.operation_in(OperationStatus.COMPLETED)
    pid = destination.project_id
    return {
        NotFoundError: _raised(lambda: repos.destinations.get_by_id(pid, str(uuid.uuid4()))),
        AlreadyExistsError: _raised(lambda: repos.destinations.create(destination)),
        ForeignKeyError: _raised(
            lambda: repos.destinations.create(
                dataclasses.replace(destination, id=str(uuid.uuid4()), project_id=str(uuid.uuid4()))
            )
        ),
        InvalidTransitionError: _raised(
            lambda: repos.operations.transition(
                operation.project_id, operation.id, OperationStatus.RUNNING
            )
        ),
        ValidationError: _raised(lambda: repos.destinations.list(pid, page_size=0)),
    }


@pytest.mark.parametrize(
    "again",
    [
        pytest.param(lambda e: pickle.loads(pickle.dumps(e)), id="pickle"),
        pytest.param(copy.copy, id="copy"),
        pytest.param(copy.deepcopy, id="deepcopy"),
    ],
)
def test_every_error_pickles_and_copies_with_its_message_and_attributes(
    build: Builder, repos: Repositories, again: Callable[[AmpdbError], AmpdbError]
) -> None:
    for kind, error in _failures(build, repos).items():
        assert type(error) is kind
        made = again(error)
        assert type(made) is kind
        assert (str(made), made.args) == (str(error), error.args)
        assert vars(made) == vars(error)
