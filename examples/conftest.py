"""The example suite needs nothing from pytest-ampdb here: the plugin loads by entry point.

This file only puts ``examples/`` on ``sys.path`` (pytest's rootdir-conftest rule) so the tests
can import ``sync_worker``.
"""

# examples/billing is a project of its own (its schema, migrations and seeds in its
# pyproject.toml): run it from its folder, `cd examples/billing && pytest`.
collect_ignore = ["billing"]
