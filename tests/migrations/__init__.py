"""Tests of the Atlas-compatible migration engine and the ``ampdb migrate`` CLI."""
