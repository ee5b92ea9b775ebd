"""``pytest_ampdb.mock``: the mock builders under their public name (they live in the harness).

One builder per entity (``mock.ConnectionBuilder().with_get_by_id(fn).build()``), generated from
the repository Protocols; see ``pytest_ampdb.harness.mock``.
"""

from pytest_ampdb.harness.mock import *  # noqa: F403
