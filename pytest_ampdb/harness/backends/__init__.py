"""The test backends the plugin drives: one ``TestDatabase`` per test, memory or PostgreSQL."""
