"""The entity-specific lookups: by name, group ref, provider, key; revisions by integration."""

from __future__ import annotations

import uuid

import pytest

from pytest_ampdb.errors import NotFoundError
from pytest_ampdb.types import Repositories

from .builders import Builder


def test_projects_get_by_name(build: Builder, repos: Repositories) -> None:
    project = build.project(name="acme-prod")
    build.project(name="acme-staging")
    assert repos.projects.get_by_name("acme-prod") == project
    assert repos.projects.get_by_name("Acme-PROD") == project
    with pytest.raises(NotFoundError) as caught:
        repos.projects.get_by_name("acme-dev")
    assert caught.value.table == "projects"


def test_integrations_get_by_name(build: Builder, repos: Repositories) -> None:
    integration = build.integration(name="read-accounts")
    pid = integration.project_id
    twin = build.integration(name="read-accounts")  # same name, another project
    build.integration(project_id=pid, name="write-leads")
    assert repos.integrations.get_by_name(pid, "read-accounts") == integration
    assert repos.integrations.get_by_name(twin.project_id, "read-accounts") == twin
    with pytest.raises(NotFoundError):
        repos.integrations.get_by_name(pid, "read-contacts")


def test_installations_get_by_group_ref(build: Builder, repos: Repositories) -> None:
    installation = build.installation(group_ref="xyz-company")
    pid, iid = installation.project_id, installation.integration_id
    other = build.installation(project_id=pid, group_ref="xyz-company")  # another integration
    build.installation(
        project_id=pid,
        integration_id=iid,
        connection_id=installation.connection_id,
        group_ref="acme",
    )
    assert repos.installations.get_by_group_ref(pid, iid, "xyz-company") == installation
    assert repos.installations.get_by_group_ref(pid, other.integration_id, "xyz-company") == other
    with pytest.raises(NotFoundError):
        repos.installations.get_by_group_ref(pid, iid, "globex")
    with pytest.raises(NotFoundError):
        repos.installations.get_by_group_ref(build.project().id, iid, "xyz-company")


def test_provider_apps_get_by_provider(build: Builder, repos: Repositories) -> None:
    app = build.provider_app(provider="salesforce")
    pid = app.project_id
    hubspot = build.provider_app(project_id=pid, provider="hubspot")
    assert repos.provider_apps.get_by_provider(pid, "salesforce") == app
    assert repos.provider_apps.get_by_provider(pid, "hubspot") == hubspot
    with pytest.raises(NotFoundError):
        repos.provider_apps.get_by_provider(pid, "gong")
    with pytest.raises(NotFoundError):
        repos.provider_apps.get_by_provider(build.project().id, "salesforce")


def test_api_keys_get_by_key(build: Builder, repos: Repositories) -> None:
    key = build.api_key(scopes=("admin",))
    build.api_key(project_id=key.project_id)
    found = repos.api_keys.get_by_key(key.key)
    assert found == key
    assert found.key == key.key
    with pytest.raises(NotFoundError) as caught:
        repos.api_keys.get_by_key(f"amp_test_{uuid.uuid4().hex}")
    assert caught.value.table == "api_keys"


def test_api_keys_by_project_and_key(build: Builder, repos: Repositories) -> None:
    key = build.api_key()
    assert repos.api_keys.get_by_id(key.project_id, key.key) == key
    with pytest.raises(NotFoundError):
        repos.api_keys.get_by_id(build.project().id, key.key)


def test_destinations_get_by_name(build: Builder, repos: Repositories) -> None:
    destination = build.destination(name="defaultWebhook")
    pid = destination.project_id
    build.destination(project_id=pid, name="s3Archive")
    assert repos.destinations.get_by_name(pid, "defaultWebhook") == destination
    with pytest.raises(NotFoundError):
        repos.destinations.get_by_name(pid, "defaultwebhook")  # names are case-sensitive
    with pytest.raises(NotFoundError):
        repos.destinations.get_by_name(build.project().id, "defaultWebhook")


def test_revisions_list_by_integration(build: Builder, repos: Repositories) -> None:
    integration = build.integration()
    pid = integration.project_id
    mine = [build.revision(project_id=pid, integration_id=integration.id) for _ in range(3)]
    build.revision(project_id=pid)  # another integration
    assert repos.revisions.list_by_integration(pid, integration.id) == mine
    assert repos.revisions.list_by_integration(build.project().id, integration.id) == []
    assert repos.revisions.list_by_integration(pid, str(uuid.uuid4())) == []
