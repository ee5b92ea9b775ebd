"""factory_boy seen as ``Any`` by the type checker.

factory_boy ships ``py.typed`` without annotations, so under ``mypy --strict`` every declaration
call is an "untyped call" and its names are not re-exported. Going through one ``Any`` alias
keeps the factories readable (``factory.Faker(...)``) and strict-clean everywhere else.
"""

from __future__ import annotations

from typing import Any

import factory as _factory
import factory.random as _factory_random  # noqa: F401  (makes factory.random importable)

factory: Any = _factory
