"""docs/reference.md names every model field, repository method and error attribute there is.

The expectations are read from the dataclasses, the Protocols and the error classes themselves,
so a field, method or attribute added to the code without a line in the reference fails here.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_ampdb import async_database, database, errors, mock, models, types
from pytest_ampdb.models import ENTITIES, declared, schema
from pytest_ampdb.postgres import errors as postgres_errors
from pytest_ampdb.repositories import bridge
from pytest_ampdb.types import TABLE_NAMES, Repositories, async_repositories

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = (ROOT / "docs" / "reference.md").read_text()
README = (ROOT / "README.md").read_text()
ERROR_MODULES = {
    "errors": errors,
    "postgres.errors": postgres_errors,
    "mock": mock,
    "models.declared": declared,
    "repositories.bridge": bridge,
}
"""Where the reference names the errors from (the base errors only as ``errors.``)."""


def section(heading: str) -> str:
    """The text under ``heading`` up to the next heading of any level."""
    start = REFERENCE.index(f"\n{heading}\n")
    rest = REFERENCE[start + len(heading) + 2 :]
    following = re.search(r"^#{1,6} ", rest, re.MULTILINE)
    return rest[: following.start()] if following else rest


def cell(text: str) -> str:
    return f"`{text.replace('|', chr(92) + '|')}`"


def model_of(protocol: type[Any]) -> type[Any] | None:
    for base in getattr(protocol, "__orig_bases__", ()):
        args = getattr(base, "__args__", ())
        if args and isinstance(args[0], type):
            return args[0]
    return None


def signature_line(name: str, function: Any, model: type[Any] | None) -> str:
    """``get_by_id(project_id: str, id: str) -> Connection``, with the Protocol's ``M`` bound."""
    text = str(inspect.signature(function)).replace("'", "")
    text = text.replace("(self, ", "(").replace("(self)", "()")
    if model is not None:
        text = re.sub(r"\bM\b", model.__name__, text)
    return f"{name}{text}"


def public_methods(protocol: type[Any]) -> list[tuple[str, Any]]:
    return [
        (name, fn)
        for name, fn in inspect.getmembers(protocol, inspect.isfunction)
        if not name.startswith("_")
    ]


def error_classes() -> list[tuple[str, type[Exception]]]:
    found = []
    for prefix, module in ERROR_MODULES.items():
        for name, cls in vars(module).items():
            if (
                isinstance(cls, type)
                and issubclass(cls, errors.AmpdbError)
                and (prefix == "errors") == (cls.__module__ == errors.__name__)
            ):
                found.append((f"{prefix}.{name}", cls))
    return found


@pytest.mark.parametrize("model", ENTITIES, ids=lambda m: m.__name__)
def test_every_model_field_is_listed_with_its_type(model: type[Any]) -> None:
    rows = section(f"### `{model.__name__}`")
    for field in dataclasses.fields(model):
        assert f"| `{field.name}` | {cell(str(field.type))} |" in rows, field.name


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_every_repository_method_is_listed_with_its_signature(table: str) -> None:
    annotation = {f.name: f.type for f in dataclasses.fields(Repositories)}[table]
    protocol = getattr(types, str(annotation))
    listed = section(f"### `repos.{table}`: `{protocol.__name__}`")
    methods = public_methods(protocol)
    assert methods
    for name, function in methods:
        line = signature_line(name, function, model_of(protocol))
        assert f"\n{line}\n" in listed, line


@pytest.mark.parametrize(
    ("lookup", "protocol"),
    [("of", types.ProjectScopedRepository), ("of_unscoped", types.UnscopedRepository)],
)
def test_the_repositories_of_a_projects_own_entities_are_listed(
    lookup: str, protocol: type[Any]
) -> None:
    listed = section(f"#### `repos.{lookup}(Model)`: `{protocol.__name__}[M]`")
    for name, function in public_methods(protocol):
        line = signature_line(name, function, None)
        assert f"\n{line}\n" in listed, line
    for owner in (Repositories, types.AsyncRepositories, database, async_database):
        assert callable(getattr(owner, lookup)), owner  # the lookups the section names


def test_every_enum_value_is_listed() -> None:
    rows = section("## Enums (`pytest_ampdb.models`)")
    for value in vars(models).values():
        if isinstance(value, type) and issubclass(value, enum.Enum):
            row = next(
                line for line in rows.splitlines() if line.startswith(f"| `{value.__name__}` |")
            )
            for member in value:
                assert f'`{member.name}` = `"{member.value}"`' in row, member


def test_every_error_is_listed_with_its_attributes() -> None:
    rows = section("## Errors").splitlines()
    classes = error_classes()
    assert len(classes) >= 11
    for qualified, cls in classes:
        row = next((r for r in rows if r.startswith(f"| `{qualified}` |")), None)
        assert row is not None, qualified
        attributes = set(re.findall(r"self\.(\w+) =", inspect.getsource(cls)))
        for attribute in attributes:
            assert f"`{attribute}`" in row.rsplit("|", 2)[1], (qualified, attribute)


def test_it_says_how_to_change_a_frozen_model_and_the_readme_links_it() -> None:
    assert "dataclasses.replace(" in section("## Changing a model")
    assert "(docs/reference.md)" in README


def test_every_async_protocol_imports_from_types_where_the_docs_say() -> None:
    protocols = {
        name
        for name, value in vars(async_repositories).items()
        if isinstance(value, type) and re.fullmatch(r"Async\w+Repository", name)
    }
    named = set(re.findall(r"\bAsync\w+Repository\b", README + REFERENCE))
    assert "AsyncApiKeyRepository" in named
    assert named <= protocols, named - protocols  # the docs name no Protocol that is not there
    for name in protocols:  # `from pytest_ampdb.types import AsyncApiKeyRepository`, ...
        assert name in types.__all__, name
        assert getattr(types, name) is getattr(async_repositories, name), name


class _Named:
    """A default shown by its name in a signature (``base=TABLES``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def test_the_declaration_api_is_listed_with_its_signatures() -> None:
    listed = section("## Declaring a schema")
    rows = listed.splitlines()
    for field in dataclasses.fields(schema.TableSpec):
        assert any(r.startswith(f"| `{field.name}` | {cell(str(field.type))} |") for r in rows), (
            field.name
        )
    for cls in (schema.UniqueKey, schema.ForeignKey, schema.Check):
        line = signature_line(cls.__name__, cls, None).removesuffix(" -> None")
        assert f"\n{line}\n" in listed, line
    extend = inspect.signature(declared.extend)
    base = extend.parameters["base"].replace(default=_Named("TABLES"))  # not the tables' repr
    extend = extend.replace(parameters=[*list(extend.parameters.values())[:-1], base])
    line = f"extend{extend}".replace("'", "")
    assert f"`{line}`" in " ".join(listed.split()), line
    for member in schema.OnDelete:
        assert f"OnDelete.{member.name}" in listed, member
    for name in ("`TABLES`", "`FACTORIES`", "`DeclarationError`"):
        assert name in listed, name
