"""The backend contract suite: one set of tests every storage backend must pass."""
