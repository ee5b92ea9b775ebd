"""The test body every side runs: three inserts in the seeded project and four reads back.

The same repository calls on every side, so the sides differ only in how each test's database
is provided and isolated.
"""

from __future__ import annotations

import uuid

from pytest_ampdb.models import (
    AuthScheme,
    Connection,
    Destination,
    DestinationType,
    Integration,
)
from pytest_ampdb.types import Repositories


def exercise(repos: Repositories, project_id: str) -> None:
    """Create an integration, a connection and a destination; read them back by id and list."""
    tag = uuid.uuid4().hex[:12]
    integration = repos.integrations.create(
        Integration(project_id=project_id, name=f"bench-{tag}", provider="salesforce")
    )
    connection = repos.connections.create(
        Connection(
            project_id=project_id,
            provider="salesforce",
            group_ref=f"group-{tag}",
            group_name="Bench group",
            consumer_ref=f"consumer-{tag}",
            consumer_name="Bench consumer",
            auth_scheme=AuthScheme.OAUTH2_AUTHORIZATION_CODE,
        )
    )
    destination = repos.destinations.create(
        Destination(
            project_id=project_id,
            name=f"hook-{tag}",
            type=DestinationType.WEBHOOK,
            metadata={"url": f"https://example.test/{tag}"},
        )
    )
    assert repos.integrations.get_by_id(project_id, integration.id) == integration
    assert repos.connections.get_by_id(project_id, connection.id) == connection
    assert repos.destinations.get_by_id(project_id, destination.id) == destination
    assert repos.integrations.list(project_id, page_size=20).items
