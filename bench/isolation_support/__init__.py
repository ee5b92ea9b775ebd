"""Pieces the ``bench/isolation.py`` subprocesses load: the shared test body, the timer plugin,
and one small pytest plugin per side (ampdb, pytest-postgresql, an already-open connection), each
providing the same two fixtures, ``repos`` and ``project_id``, so every side runs the same test
file and the same repository calls."""
