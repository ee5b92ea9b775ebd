"""The example suite needs nothing from pytest-ampdb here: the plugin loads by entry point.

This file only puts ``examples/`` on ``sys.path`` (pytest's rootdir-conftest rule) so the tests
can import ``sync_worker``.
"""
