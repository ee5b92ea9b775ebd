"""pytest-ampdb: Ampersand's repository data layer for Python tests.

Models, repository interfaces, an in-memory store, PostgreSQL repositories, Atlas migrations,
seeds and provisioning form a library usable without pytest; ``pytest_ampdb.plugin`` is the thin
pytest glue over it.
"""

__version__ = "0.1.0"
