"""A project's own entities through every surface the packaged ones have, in-process: the
facades' accessors and ``of``/``of_unscoped``, the async twins, mock builders of either scope and
the factory lookup behind the ``<entity>_factory`` fixtures. (examples/billing runs the same
surfaces under both modes: tests/test_evolve_workflow.py.)"""

from __future__ import annotations

import asyncio
import importlib
import random
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pytest_ampdb import async_database, database, memory, migrations, mock, postgres
from pytest_ampdb.errors import AmpdbError, ForeignKeyError, NotFoundError, ValidationError
from pytest_ampdb.factories import (
    AmpdbFactory,
    ApiKeyFactory,
    ConnectionFactory,
    ProjectFactory,
    ProjectScopedFactory,
    factory_for,
    parent_id,
    project_id_from,
    reseed,
)
from pytest_ampdb.harness.fixtures import declared_fixtures
from pytest_ampdb.migrations.schemadiff import declared_statements
from pytest_ampdb.models import ApiKey, Organization, Project
from pytest_ampdb.models.columns import Id
from pytest_ampdb.models.declared import extend
from pytest_ampdb.models.ids import new_id
from pytest_ampdb.models.schema import ForeignKey, OnDelete, TableSpec
from pytest_ampdb.repositories.aio import asyncify
from pytest_ampdb.types import Repositories


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    id: Id = field(default_factory=new_id)
    project_id: Id
    text: str
    create_time: datetime | None = None
    update_time: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tag:
    id: Id = field(default_factory=new_id)
    label: str
    create_time: datetime | None = None
    update_time: datetime | None = None


NOTES = TableSpec(
    name="notes",
    model=Note,
    foreign_keys=(ForeignKey("notes_project_id_fkey", "project_id", "projects", OnDelete.CASCADE),),
)
TAGS = TableSpec(name="tags", model=Tag, scope=None)
TABLES = extend(tables=[NOTES, TAGS])


class NoteFactory(ProjectScopedFactory[Note]):
    class Meta:
        model = Note

    text = "remember"


class TagFactory(AmpdbFactory[Tag]):
    class Meta:
        model = Tag

    label = "urgent"


@pytest.fixture
def repos() -> Repositories:
    return memory.repositories(memory.MemoryStore(TABLES))


def test_the_facade_finds_own_entities_by_table_and_by_model(repos: Repositories) -> None:
    with database.use(repos):
        project = ProjectFactory.create()
        note = NoteFactory.create(project_id=project.id)
        tag = TagFactory.create()
        assert database.notes() is repos.declared["notes"]
        assert database.of(Note).get_by_id(project.id, note.id) == note
        assert database.of_unscoped(Tag).get_by_id(tag.id) == tag
        database.of_unscoped(Tag).delete(tag.id)
        with pytest.raises(NotFoundError):
            database.tags().get_by_id(tag.id)


def test_a_wrong_scope_or_an_unknown_model_is_one_line(repos: Repositories) -> None:
    with pytest.raises(AmpdbError, match=r"^tags: its rows belong to no project; use of_unscoped"):
        repos.of(Tag)
    with pytest.raises(AmpdbError, match=r"^notes: its rows belong to a project; use of\(Note\)"):
        repos.of_unscoped(Note)
    with pytest.raises(AmpdbError, match=r"has the model str \(a project's own entities: notes, "):
        repos.of(str)
    with pytest.raises(TypeError, match=r"^of\(\) takes an entity's model class, not 'notes' "):
        repos.of("notes")  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"^of_unscoped\(\) takes an entity's model class, not None$"
    ):
        repos.of_unscoped(None)  # type: ignore[arg-type]


def test_a_name_that_is_no_table_is_an_attribute_error(repos: Repositories) -> None:
    with database.use(repos):
        assert not hasattr(database, "note")
        with pytest.raises(AttributeError, match="'note'"):
            database.note  # noqa: B018


def test_the_async_twins_of_own_entities(repos: Repositories) -> None:
    async def scenario() -> tuple[Note, Tag]:
        with async_database.use(asyncify(repos)):
            project = await ProjectFactory.acreate()
            made = await async_database.of(Note).create(Note(project_id=project.id, text="a"))
            tag = await async_database.tags().create(Tag(label="b"))
            assert async_database.repositories().declared.keys() == {"notes", "tags"}
            return await async_database.notes().get_by_id(project.id, made.id), tag

    with database.use(repos):
        note, tag = asyncio.run(scenario())
        assert database.of(Note).get_by_id(note.project_id, note.id) == note
        assert repos.of_unscoped(Tag).get_by_id(tag.id) == tag


def test_builders_of_own_entities_follow_their_scope() -> None:
    tags = mock.builder_for(Tag).with_get_by_id(lambda id: Tag(id=id, label="x")).build()
    assert tags.get_by_id("t1").label == "x"
    with pytest.raises(
        TypeError, match=r"stub for TagRepository\.get_by_id\(id: str\) -> Tag cannot"
    ):
        mock.builder_for(Tag).with_get_by_id(lambda project_id, id: None)
    notes = mock.builder_for(Note, asynchronous=True).with_delete(lambda project_id, id: None)
    assert asyncio.run(notes.build().delete("p", "n")) is None
    assert type(mock.builder_for(Tag, asynchronous=True)).__name__ == "AsyncTagBuilder"


def test_the_factory_of_a_model_is_the_one_on_the_base() -> None:
    assert factory_for(Note) is NoteFactory

    class LoudNoteFactory(NoteFactory):  # a variant keeping the model: not a rival
        text = "REMEMBER"

    assert factory_for(Note) is NoteFactory
    with pytest.raises(LookupError, match=r"^str: no factory makes it: declare one on "):
        factory_for(str)
    assert factory_for(str, TagFactory) is TagFactory


def test_each_own_entity_gets_its_factory_and_model_fixtures() -> None:
    plugin = declared_fixtures(TABLES)
    made = {name for name in vars(plugin) if not name.startswith("__")}
    assert made == {"note_factory", "note", "tag_factory", "tag"}


def test_a_services_default_repositories_follow_ampdb_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Outside a test run, the default comes from the environment: AMPDB_SCHEMA names the
    schema, so a service's ``database.of(Note)`` works as in its tests."""
    monkeypatch.setenv("AMPDB_BACKEND", "memory")
    monkeypatch.setenv("AMPDB_SCHEMA", __name__)
    previous = database.set_default()  # neither repos nor provider: from the environment
    try:
        assert database.of_unscoped(Tag).list().items == []
        assert set(database.declared()) == {"notes", "tags"}
        assert database.projects().list().items  # the packaged seeds are loaded too
    finally:
        database.restore_default(previous)


def test_a_mock_bundle_holds_own_entities() -> None:
    """Unit tests inject mocks of a project's own entities as of the packaged ones."""
    note = Note(project_id="p", text="t")
    notes = mock.builder_for(Note).with_get_by_id(lambda project_id, id: note)
    with database.use(mock.repositories(declared={"notes": notes})):
        assert database.notes().get_by_id("p", note.id) is note
        assert database.of(Note).get_by_id("p", note.id) is note
        with pytest.raises(mock.NotStubbedError):
            database.projects().get_by_id("x")
    tags = mock.builder_for(Tag, asynchronous=True).with_get_by_id(lambda id: Tag(label=id))
    bundle = mock.async_repositories(declared={"tags": tags})
    assert asyncio.run(bundle.of_unscoped(Tag).get_by_id("a")).label == "a"


def test_use_takes_an_own_entitys_repository_by_its_table_name(repos: Repositories) -> None:
    note = Note(project_id="p", text="mocked")
    notes = mock.builder_for(Note).with_get_by_id(lambda project_id, id: note).build()
    with database.use(repos):
        tags = repos.declared["tags"]
        with database.use(notes=notes):
            assert database.notes() is notes
            assert database.of(Note).get_by_id("p", note.id) is note
            assert database.tags() is tags  # the other own entities stay in effect
        assert database.notes() is repos.declared["notes"]
        unknown = database.use(invoices=notes)
        with pytest.raises(TypeError, match=r"unknown table name\(s\): invoices \(neither"):
            unknown.__enter__()
    with async_database.use(asyncify(repos)):
        anotes = mock.builder_for(Note, asynchronous=True).build()
        with async_database.use(notes=anotes):
            assert async_database.notes() is anotes


BILLING = Path(__file__).resolve().parents[1] / "examples" / "billing"


def billing_copy(pytester: pytest.Pytester, *, factories: bool) -> None:
    """examples/billing in a fresh folder (its schema naming its factories, or not)."""
    for folder in ("billing", "migrations", "seed"):
        shutil.copytree(BILLING / folder, pytester.path / folder)
    shutil.copy(BILLING / "pyproject.toml", pytester.path)
    schema = pytester.path / "billing" / "schema.py"
    if not factories:
        schema.write_text(schema.read_text().replace('FACTORIES = "billing.factories"', ""))


def run_memory(pytester: pytest.Pytester) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ampdb=memory")


def test_the_fixtures_import_the_factories_the_schema_names(pytester: pytest.Pytester) -> None:
    billing_copy(pytester, factories=True)
    pytester.makepyfile(
        test_fixtures="""
from billing.schema import Invoice, Plan

def test_own_entity_fixtures(invoice, plan, invoice_factory, ampdb):
    # billing.factories is imported by no test: the schema's FACTORIES names it
    assert invoice_factory.__module__ == "billing.factories"
    assert ampdb.of(Invoice).get_by_id(invoice.project_id, invoice.id) == invoice
    assert ampdb.of_unscoped(Plan).get_by_id(plan.id) == plan
"""
    )
    run_memory(pytester).assert_outcomes(passed=1)


def test_an_entity_with_no_factory_fails_its_fixture_with_one_line(
    pytester: pytest.Pytester,
) -> None:
    billing_copy(pytester, factories=False)
    pytester.makepyfile(test_fixtures="def test_a_plan(plan): pass\n")
    result = run_memory(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*pytest-ampdb: plan_factory: Plan: no factory makes it: declare one on *"]
    )
    assert "Traceback" not in result.stdout.str()


def test_the_packaged_factory_of_an_extended_entity_makes_the_projects_model(
    pytester: pytest.Pytester,
) -> None:
    """A schema that adds a column to a packaged entity and declares no factory for it keeps
    the packaged factory, which makes the project's subclass (the repositories refuse a
    packaged model there) and takes the added column as a keyword."""
    billing_copy(pytester, factories=False)
    pytester.makepyfile(
        test_packaged="""
from billing.schema import TieredApiKey
from pytest_ampdb.factories import ApiKeyFactory

def test_made_by_the_packaged_factory(ampdb, ampdb_seed, api_key_factory, api_key):
    assert api_key_factory is ApiKeyFactory
    assert isinstance(api_key, TieredApiKey) and api_key.tier == "free"
    pro = api_key_factory.create(project_id=ampdb_seed.project_id, tier="pro")
    assert ampdb.api_keys.get_by_key(pro.key) == pro and pro.tier == "pro"
    assert isinstance(ApiKeyFactory.build(), TieredApiKey)
"""
    )
    run_memory(pytester).assert_outcomes(passed=1)


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class StarredApiKey(ApiKey):
    starred: bool = False


def test_a_packaged_factory_creates_the_model_of_the_repository_in_effect() -> None:
    """Outside a test run, in a ``database.use`` block over a schema that extends api_keys, the
    packaged factory creates the project's subclass (the repository refuses the packaged model)."""
    extended = extend(columns=[StarredApiKey])
    with database.use(memory.repositories(memory.MemoryStore(extended))):
        made = ApiKeyFactory.create()
        assert isinstance(made, StarredApiKey)
        assert made.starred is False
        assert database.api_keys().get_by_key(made.key) == made


def test_async_postgres_repositories_follow_a_projects_schema(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``postgres.async_repositories(pool, tables=...)`` (what ``async_database``'s default
    uses with AMPDB_SCHEMA): a project's own entities over an async pool, each call awaited."""
    monkeypatch.syspath_prepend(str(BILLING))
    schema = importlib.import_module("billing.schema")
    migrations.apply(fresh_database, BILLING / "migrations")

    async def scenario() -> None:
        pool = await postgres.async_connect(fresh_database, min_size=1)
        try:
            repos = postgres.async_repositories(pool, tables=schema.TABLES)
            plans = repos.of_unscoped(schema.Plan)
            made = await plans.create(schema.Plan(name="gold", monthly_cents=9900))
            assert await plans.get_by_id(made.id) == made
            with async_database.use(repos):
                assert (await async_database.plans().list()).items == [made]
                invoices = await async_database.of(schema.Invoice).list(str(new_id()))
                assert invoices.items == []
        finally:
            await pool.close()

    asyncio.run(scenario())


def _billing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, backend: str
) -> tuple[Any, Repositories]:
    """``billing.schema`` and empty repositories of its tables on ``backend``."""
    monkeypatch.syspath_prepend(str(BILLING))
    schema = importlib.import_module("billing.schema")
    if backend == "memory":
        return schema, memory.repositories(memory.MemoryStore(schema.TABLES))
    dsn: str = request.getfixturevalue("fresh_database")
    migrations.apply(dsn, BILLING / "migrations")
    pool = postgres.connect(dsn, min_size=1)
    request.addfinalizer(pool.close)
    return schema, postgres.repositories(pool, tables=schema.TABLES)


BOTH = ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BOTH)
def test_a_long_value_in_an_own_entitys_indexed_text_is_refused_alike_in_both_backends(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """``plans.name`` is a unique key: ``extend`` limits it as the packaged keys are, so a long
    value is one ``ValidationError`` naming it in memory too, not a btree error in PostgreSQL
    alone (random CJK text: PostgreSQL cannot compress it below its index entry limit)."""
    schema, repos = _billing(request, monkeypatch, backend)
    plans = repos.of_unscoped(schema.Plan)
    chooser = random.Random(7)
    long = "".join(chr(chooser.randrange(0x4E00, 0x9FFF)) for _ in range(1000))
    with pytest.raises(ValidationError) as caught:
        plans.create(schema.Plan(name=long, monthly_cents=1))
    assert (caught.value.table, caught.value.column) == ("plans", "name")
    assert caught.value.rule == "must be at most 255 characters"
    assert plans.create(schema.Plan(name=long[:255], monthly_cents=1)).name == long[:255]


@pytest.mark.parametrize("backend", BOTH)
def test_a_reference_to_a_missing_api_key_does_not_show_the_key(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """``invoices.api_key`` references ``api_keys.key``, a secret: the ``ForeignKeyError`` for a
    key that is not there (or is another project's) masks it, as ``NotFoundError`` and
    ``AlreadyExistsError`` do, in both backends."""
    schema, repos = _billing(request, monkeypatch, backend)
    org = repos.organizations.create(Organization(label="o", default_team_id=new_id()))
    project = repos.projects.create(Project(name="p1", app_name="a", organization_id=org.id))
    secret = "sk_live_" + new_id()
    with pytest.raises(ForeignKeyError) as caught:
        repos.of(schema.Invoice).create(
            schema.Invoice(project_id=project.id, api_key=secret, amount_cents=1)
        )
    assert secret not in str(caught.value)
    assert str(caught.value) == (
        f"invoices.api_key -> api_keys: no api_keys row with project_id={project.id}, key=***"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyUse:
    id: Id = field(default_factory=new_id)
    project_id: Id
    api_key: str
    create_time: datetime | None = None
    update_time: datetime | None = None


KEY_USES = TableSpec(
    name="key_uses",
    model=KeyUse,
    foreign_keys=(
        ForeignKey("key_uses_project_id_fkey", "project_id", "projects", OnDelete.CASCADE),
        ForeignKey(
            "key_uses_api_key_fkey", "api_key", "api_keys", OnDelete.NO_ACTION, scope="project_id"
        ),
    ),
)


@pytest.mark.parametrize("backend", BOTH)
def test_deleting_a_referenced_api_key_does_not_show_the_key(
    request: pytest.FixtureRequest, backend: str
) -> None:
    """The ``ForeignKeyError`` of a delete a reference holds back masks a secret key too."""
    tables = extend(tables=[KEY_USES])
    if backend == "memory":
        repos = memory.repositories(memory.MemoryStore(tables))
    else:
        dsn: str = request.getfixturevalue("fresh_database")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in declared_statements(tables):
                conn.execute(statement)
        pool = postgres.connect(dsn, min_size=1)
        request.addfinalizer(pool.close)
        repos = postgres.repositories(pool, tables=tables)
    org = repos.organizations.create(Organization(label="o", default_team_id=new_id()))
    project = repos.projects.create(Project(name="p1", app_name="a", organization_id=org.id))
    secret = "sk_live_" + new_id()
    repos.api_keys.create(ApiKey(key=secret, project_id=project.id, label="l", scopes=()))
    repos.of(KeyUse).create(KeyUse(project_id=project.id, api_key=secret))
    with pytest.raises(ForeignKeyError) as caught:
        repos.api_keys.delete(project.id, secret)
    assert str(caught.value) == (
        "key_uses.api_key -> api_keys: api_keys row key=*** is still referenced"
    )


OWN_REPOSITORIES = """
import asyncio

import pytest

from billing.schema import Invoice, TieredApiKey
from pytest_ampdb import memory, postgres
from pytest_ampdb.models import Organization, Project
from pytest_ampdb.models.ids import new_id

SEEDED_INVOICE = "b1000001-0000-4000-8000-000000000001"


@pytest.mark.ampdb(backend="memory")
def test_a_store_the_code_makes():
    repos = memory.repositories(memory.MemoryStore())
    org = repos.organizations.create(Organization(label="o", default_team_id=str(new_id())))
    project = repos.projects.create(Project(name="pp", app_name="a", organization_id=org.id))
    key = repos.api_keys.create(
        TieredApiKey(project_id=project.id, key="k" * 40, label="l", scopes=(), tier="pro")
    )
    assert repos.api_keys.get_by_key(key.key).tier == "pro"
    assert repos.of(Invoice).list(project.id).items == []


@pytest.mark.ampdb(backend="postgres", isolation="database")
async def test_a_pool_the_code_opens(ampdb_dsn, ampdb_seed):
    pool = await postgres.async_connect(ampdb_dsn, min_size=1)
    try:
        repos = postgres.async_repositories(pool)
        invoice = await repos.of(Invoice).get_by_id(ampdb_seed.project_id, SEEDED_INVOICE)
        assert invoice.amount_cents == 1200
        keys = (await repos.api_keys.list(ampdb_seed.project_id)).items
        assert keys and all(isinstance(k, TieredApiKey) for k in keys)
    finally:
        await pool.close()


@pytest.mark.ampdb(backend="postgres", isolation="database")
def test_a_sync_pool_the_code_opens(ampdb_dsn, ampdb_seed):
    with postgres.connect(ampdb_dsn, min_size=1) as pool:
        invoice = postgres.repositories(pool).of(Invoice).get_by_id(ampdb_seed.project_id,
                                                                    SEEDED_INVOICE)
        assert invoice.amount_cents == 1200
"""


@pytest.mark.parametrize("backend", BOTH)
def test_repositories_the_code_under_test_builds_hold_the_runs_schema(
    pytester: pytest.Pytester, backend: str
) -> None:
    """Code under test that builds its own repositories (``postgres.async_repositories(pool)``
    as the README's Async section shows, ``MemoryStore()``) gets the run's schema
    (``ampdb_schema``): the project's entities, and its extended models with their columns.
    They were the packaged twelve: ``of(Invoice)`` failed and api keys came back without
    ``tier``."""
    billing_copy(pytester, factories=True)
    pytester.makepyfile(test_own=OWN_REPOSITORIES)
    args = ["-p", "no:cacheprovider", f"--ampdb={backend}"]
    if backend == "postgres":
        args.append("--ampdb-postgres=local")
    outcomes = {"memory": (1, 2), "postgres": (2, 1)}[backend]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=outcomes[0], skipped=outcomes[1])


def test_repositories_a_service_builds_follow_ampdb_schema(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a test run, ``AMPDB_SCHEMA`` is the schema of the repositories a service builds
    itself, as it is of the facades' default."""
    monkeypatch.setenv("AMPDB_SCHEMA", __name__)
    assert memory.repositories(memory.MemoryStore()).of_unscoped(Tag).list().items == []
    monkeypatch.syspath_prepend(str(BILLING))
    monkeypatch.setenv("AMPDB_SCHEMA", "billing.schema")
    schema = importlib.import_module("billing.schema")
    migrations.apply(fresh_database, BILLING / "migrations")
    with postgres.connect(fresh_database, min_size=1) as pool:
        repos = postgres.repositories(pool)
        assert repos.of(schema.Invoice).list(str(new_id())).items == []
        org = repos.organizations.create(Organization(label="o", default_team_id=str(new_id())))
        project = repos.projects.create(Project(name="pp", app_name="a", organization_id=org.id))
        key = repos.api_keys.create(
            schema.TieredApiKey(project_id=project.id, key="k" * 40, label="l", scopes=())
        )
        assert repos.api_keys.get_by_key(key.key) == key
        assert key.tier == "free"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin:
    id: Id = field(default_factory=new_id)
    project_id: Id
    connection_id: Id
    create_time: datetime | None = None
    update_time: datetime | None = None


PIN_TABLES = extend(
    tables=[
        TableSpec(
            name="pins",
            model=Pin,
            foreign_keys=(
                ForeignKey("pins_project_id_fkey", "project_id", "projects", OnDelete.CASCADE),
                ForeignKey(
                    "pins_connection_id_fkey",
                    "connection_id",
                    "connections",
                    OnDelete.CASCADE,
                    scope="project_id",
                ),
            ),
        )
    ]
)


class PinFactory(ProjectScopedFactory[Pin]):
    """A project's factory whose entity references a packaged one, as the README shows."""

    class Meta:
        model = Pin

    class Params:
        connection = None

    project_id = project_id_from("connection")
    connection_id = parent_id("connection", ConnectionFactory)


def test_a_projects_factory_makes_a_referenced_parent_in_its_project() -> None:
    """``parent_id`` / ``project_id_from`` (public, README "Evolving the schema") give a
    project's factory a reference to a packaged entity: ``create()`` saves a new parent in the
    row's project first, ``build()`` saves nothing, a given parent gives its id and project.
    Without them a user's factory had no declaration that worked for both create and build."""
    repos = memory.repositories(memory.MemoryStore(PIN_TABLES))
    with database.use(repos):
        pin = PinFactory.create()
        parent = repos.connections.get_by_id(pin.project_id, pin.connection_id)
        assert parent.project_id == pin.project_id
        assert repos.of(Pin).get_by_id(pin.project_id, pin.id) == pin
        before = len(repos.connections.list(pin.project_id).items)
        again = PinFactory.create(connection=parent)
        assert (again.project_id, again.connection_id) == (parent.project_id, parent.id)
        assert len(repos.connections.list(pin.project_id).items) == before
        built = PinFactory.build()
        with pytest.raises(NotFoundError):
            repos.projects.get_by_id(built.project_id)


def test_a_projects_factory_takes_its_ids_from_the_seed() -> None:
    """A project's factory that declares no ``id`` gets its ids from the run's seed, as the
    packaged ones do, so ``--ampdb-random-seed=N`` repeats them (they were ``new_id()``'s,
    different on every run)."""
    made = []
    for _ in range(2):
        reseed(7)
        made.append([PinFactory.build().id, PinFactory.build(connection_id="c").id])
    assert made[0] == made[1]
    assert len(set(made[0])) == 2


@dataclass(frozen=True, slots=True, kw_only=True)  # no repr=False: the README's example has it
class PlainTieredApiKey(ApiKey):
    tier: str = "free"


def test_a_subclass_made_without_repr_false_still_masks_its_secrets() -> None:
    """A project's subclass of a model with secrets, declared without ``repr=False``, never
    shows the secret in a repr (pytest's assertion output, a log line): ``@dataclass``'s own
    repr printed the API key in full."""
    key = PlainTieredApiKey(key="amp_secret_123", project_id="p", label="l", scopes=())
    assert repr(key) == (
        "PlainTieredApiKey(key=***, project_id='p', label='l', active=True, scopes=(), "
        "create_time=None, tier='free')"
    )
    assert str(key) == repr(key)
    assert key == PlainTieredApiKey(key="amp_secret_123", project_id="p", label="l", scopes=())
