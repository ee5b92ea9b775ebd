"""Secrets (``ApiKey.key``, ``ProviderApp.client_secret``) never show in a repr, page or error."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.types import Repositories

from .builders import Builder


def _shown(value: object) -> list[str]:
    return [repr(value), str(value), f"{value}", f"{value!r}"]


def test_an_api_key_repr_masks_the_key(build: Builder, repos: Repositories) -> None:
    key = build.api_key()
    for text in _shown(key):
        assert key.key not in text
        assert "key=***" in text
        assert key.project_id in text  # the rest is still shown
    page = repos.api_keys.list(key.project_id)
    assert page.items == [key]
    for text in [*_shown(page), *_shown(page.items)]:
        assert key.key not in text


def test_a_provider_app_repr_masks_the_client_secret(build: Builder, repos: Repositories) -> None:
    app = build.provider_app()
    for text in _shown(app):
        assert app.client_secret not in text
        assert "client_secret=***" in text
        assert app.client_id in text
    page = repos.provider_apps.list(app.project_id)
    for text in [
        *_shown(page),
        *_shown(repos.provider_apps.get_by_provider(app.project_id, app.provider)),
    ]:
        assert app.client_secret not in text


def _failures(build: Builder, repos: Repositories) -> dict[str, tuple[str, Callable[[], object]]]:
    """Calls that fail while naming a secret (the secret, and the call)."""
    key = build.api_key()
    other = build.project().id
    app = build.provider_app()
    return {
        "duplicate key": (key.key, lambda: build.api_key(key=key.key)),
        "unknown key": (
            "amp_test_unknown_0f1e2d",
            lambda: repos.api_keys.get_by_key("amp_test_unknown_0f1e2d"),
        ),
        "key of another project": (key.key, lambda: repos.api_keys.get_by_id(other, key.key)),
        "delete in another project": (key.key, lambda: repos.api_keys.delete(other, key.key)),
        "update in another project": (
            key.key,
            lambda: repos.api_keys.update(dataclasses.replace(key, project_id=other)),
        ),
        "bad scope": (key.key, lambda: build.api_key(key=key.key + "x", scopes=("root",))),
        "duplicate provider app": (
            app.client_secret,
            lambda: build.provider_app(
                project_id=app.project_id, provider=app.provider, client_secret=app.client_secret
            ),
        ),
        "secret of the wrong type": ("12345", lambda: build.provider_app(client_secret=12345)),
    }


@pytest.mark.parametrize(
    "case",
    [
        "duplicate key",
        "unknown key",
        "key of another project",
        "delete in another project",
        "update in another project",
        "bad scope",
        "duplicate provider app",
        "secret of the wrong type",
    ],
)
def test_an_error_message_never_contains_a_secret(
    build: Builder, repos: Repositories, case: str
) -> None:
    secret, call = _failures(build, repos)[case]
    with pytest.raises(AmpdbError) as caught:
        call()
    for text in (str(caught.value), repr(caught.value), *map(str, caught.value.args)):
        assert secret not in text, text


def test_a_failed_assert_comparing_models_does_not_show_their_secrets(
    build: Builder, repos: Repositories
) -> None:
    """pytest explains a failed ``==`` of two dataclasses field by field, values in full, when
    their ``__eq__`` is the generated one: the models with secrets must not get that."""
    key = build.api_key()
    other_key = build.api_key(project_id=key.project_id)
    app = build.provider_app()
    stored_key = repos.api_keys.get_by_key(key.key)
    stored_app = repos.provider_apps.get_by_id(app.project_id, app.id)
    pairs = [
        (stored_key, dataclasses.replace(stored_key, key=other_key.key), (key.key, other_key.key)),
        (
            stored_app,
            dataclasses.replace(stored_app, client_secret="s3cr3t-x"),
            (app.client_secret, "s3cr3t-x"),
        ),
    ]
    for left, right, secrets in pairs:
        assert left == dataclasses.replace(left)
        assert hash(left) == hash(dataclasses.replace(left))
        with pytest.raises(AssertionError) as caught:
            assert left == right
        explained = str(caught.value)
        assert explained.startswith(f"assert {type(left).__name__}(")  # pytest's explanation
        for secret in secrets:
            assert secret not in explained, explained
