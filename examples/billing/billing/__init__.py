"""A downstream project that extends pytest-ampdb's schema: a tier on every API key, and the
invoices billed to a project's keys (see ``billing.schema``)."""
