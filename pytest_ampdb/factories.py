"""``pytest_ampdb.factories`` in a checkout: the repository's top-level ``factories/`` folder.

The wheel installs that folder as the package ``pytest_ampdb/factories/`` and leaves this file
out. In a checkout (the editable install ``scripts/bootstrap`` makes) this module loads the folder
under the same name in its place, so ``import pytest_ampdb.factories`` is the same code both ways.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_FOLDER = Path(__file__).resolve().parent.parent / "factories"
_spec = importlib.util.spec_from_file_location(
    __name__, _FOLDER / "__init__.py", submodule_search_locations=[str(_FOLDER)]
)
if _spec is None or _spec.loader is None:  # pragma: no cover - the checkout always has it
    raise ImportError(f"pytest_ampdb.factories: no factories package at {_FOLDER}")
_package = importlib.util.module_from_spec(_spec)
sys.modules[__name__] = _package
_spec.loader.exec_module(_package)
