"""The one base every factory shares: build unsaved models, create through ``database``.

``create()`` saves through the repository in effect for the model's table
(``pytest_ampdb.database``), so one factory call writes to the memory store, to PostgreSQL or to
whatever a ``database.use(...)`` block injected. Parents are made by ``parent_id`` declarations
(a ``SubFactory`` that yields the parent's id) with the same strategy, so ``create()`` saves parents
first and ``build()`` saves nothing; ``project_id_from`` keeps a child in its parents' project.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pytest_ampdb import database
from pytest_ampdb.harness.randomness import take_factory_seed
from pytest_ampdb.harness.run_models import made_model
from pytest_ampdb.models.tables import SPEC_BY_MODEL
from pytest_ampdb.repositories.bridge import in_thread

from ._boy import factory

ENTITIES_MODULE = f"{__package__}.entities"
"""Where ``parent_id`` finds factories by name (``pytest_ampdb.factories.entities``)."""

M = TypeVar("M")
"""The model a factory makes (its ``Meta.model``)."""


class AmpdbFactory(factory.Factory, Generic[M]):  # type: ignore[misc]
    """Base of the entity factories: frozen models, saved through the repositories in effect.

    ``XFactory(AmpdbFactory[X])`` types ``build()`` and ``create()`` as returning an ``X``
    (factory_boy itself is untyped).
    """

    class Meta:
        abstract = True

    if TYPE_CHECKING:

        @classmethod
        def build(cls, **kwargs: Any) -> M: ...

        @classmethod
        def create(cls, **kwargs: Any) -> M: ...

        @classmethod
        def build_batch(cls, size: int, **kwargs: Any) -> list[M]: ...

        @classmethod
        def create_batch(cls, size: int, **kwargs: Any) -> list[M]: ...

    @classmethod
    def _generate(cls, strategy: Any, params: Any) -> Any:
        __tracebackhide__ = True
        check_fields(cls, params)
        seed = take_factory_seed()  # the running test's seed, on its first factory call
        if seed is not None:
            reseed(seed)
        return super()._generate(strategy, params)

    @classmethod
    def _build(cls, model_class: type[Any], *args: Any, **kwargs: Any) -> Any:
        model = made_model(model_class)
        return model(*args, **seeded_id(model, kwargs))

    @classmethod
    async def acreate(cls, **kwargs: Any) -> M:
        """``create()`` for async tests: run in a worker thread with this task's context (so
        through the same repositories in effect), since a sync PostgreSQL call would block;
        cancelled, it raises once the rows are written, as an async repository call does."""
        return await in_thread(cls.create, **kwargs)

    @classmethod
    def _create(cls, model_class: type[Any], *args: Any, **kwargs: Any) -> Any:
        repo = database.current(table_of(model_class))
        table_model = getattr(getattr(repo, "spec", None), "model", None)
        model = made_model(model_class, table_model)
        return repo.create(model(*args, **seeded_id(model, kwargs)))


class UnusedInProject(AmpdbFactory[M]):
    """A factory whose ``_cycled`` field must be unique in its project (among rows that share the
    ``_alongside`` fields): on ``create()`` without that field, the value is the next of
    ``_choices`` the project does not hold yet, so a row made in the seeded project (or one a test
    filled) does not collide with what is there."""

    class Meta:
        abstract = True

    _cycled: ClassVar[str]
    _choices: ClassVar[tuple[str, ...]]
    _alongside: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _generate(cls, strategy: Any, params: Any) -> Any:
        if strategy == factory.CREATE_STRATEGY and cls._cycled not in params:
            params = {**params, cls._cycled: factory.LazyAttributeSequence(cls._unused)}
        return super()._generate(strategy, params)

    @classmethod
    def _unused(cls, obj: Any, n: int) -> str:
        table = table_of(cls._meta.model)
        taken = {
            getattr(row, cls._cycled)
            for row in _every_row(database.current(table), obj.project_id)
            if all(getattr(row, f) == getattr(obj, f) for f in cls._alongside)
        }
        count = len(cls._choices)
        for step in range(count):
            candidate = cls._choices[(n + step) % count]
            if candidate not in taken:
                return candidate
        return f"{cls._choices[n % count]}-{n}"


def table_of(model: type[Any]) -> str:
    """The table ``model`` is saved in: a packaged entity (or a project's subclass of one, which
    adds columns to it), else a project's own entity among the repositories in effect."""
    for base in model.__mro__:
        if base in SPEC_BY_MODEL:
            return SPEC_BY_MODEL[base].name
    for table, repo in database.declared().items():
        if getattr(repo, "spec", None) is not None and repo.spec.model is model:
            return table
    raise TypeError(
        f"{model.__name__} is not the model of any table in effect (packaged, or declared by "
        "the project's schema, --ampdb-schema)"
    )


def factory_for(
    model: type[Any], default: type[AmpdbFactory[Any]] | None = None
) -> type[AmpdbFactory[Any]]:
    """The factory that makes ``model``: the one concrete factory on this base whose
    ``Meta.model`` it is (a subclass of that factory keeping its model is a variant of it, not
    a rival), else ``default``. How the ``<entity>_factory`` fixtures find a project's own
    factories."""
    found: list[type[AmpdbFactory[Any]]] = []
    pending: list[type[AmpdbFactory[Any]]] = [AmpdbFactory]
    while pending:
        each = pending.pop()
        pending.extend(each.__subclasses__())
        if not each._meta.abstract and each._meta.model is model:
            found.append(each)
    roots = [f for f in found if not any(o is not f and issubclass(f, o) for o in found)]
    if len(roots) == 1:
        return roots[0]
    if roots:
        names = ", ".join(sorted(f"{f.__module__}.{f.__qualname__}" for f in roots))
        raise LookupError(f"{model.__name__}: more than one factory makes it ({names})")
    if default is not None:
        return default
    raise LookupError(
        f"{model.__name__}: no factory makes it: declare one on "
        "pytest_ampdb.factories.ProjectScopedFactory (AmpdbFactory for an entity no project "
        f"owns) with Meta.model = {model.__name__}, in a module the schema's FACTORIES names"
    )


def _every_row(repo: Any, project_id: str) -> Iterator[Any]:
    token = None
    while True:
        page = repo.list(project_id, page_size=1000, page_token=token)
        yield from page.items
        token = page.next_page_token
        if token is None:
            return


def seeded_id(model: type[Any], fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with an ``id`` drawn from factory_boy's generator when the model has that
    column and no declaration gave one: every factory's ids (a project's own, a parent's) come
    from the run's seed, so ``--ampdb-random-seed`` repeats them (the model's default,
    ``new_id()``, differs on every run)."""
    if "id" in fields or not _has_id(model):
        return fields
    return {**fields, "id": str(uuid.UUID(int=rng().getrandbits(128), version=4))}


_HAS_ID: dict[type[Any], bool] = {}


def _has_id(model: type[Any]) -> bool:
    found = _HAS_ID.get(model)
    if found is None:
        found = _HAS_ID[model] = any(f.name == "id" for f in dataclasses.fields(model))
    return found


def check_fields(factory_class: type[AmpdbFactory[Any]], params: Any) -> None:
    """Refuse a keyword that is neither a field of the model nor a declaration of the factory,
    with one line listing the model's fields (factory_boy would pass it on to the model and
    fail deep inside its own machinery)."""
    meta = factory_class._meta
    model = made_model(meta.model)
    fields = [f.name for f in dataclasses.fields(model)]
    known = {*fields, *meta.declarations, *meta.parameters}
    unknown = sorted(name for name in params if name.split("__", 1)[0] not in known)
    if unknown:
        extra = sorted({*meta.declarations, *meta.parameters} - set(fields))
        raise TypeError(
            f"{factory_class.__name__}: unknown field {', '.join(map(repr, unknown))}; "
            f"{model.__name__} has the fields {', '.join(fields)}"
            + (f" (and the factory takes {', '.join(extra)})" if extra else "")
        )


def reseed(seed: int) -> None:
    """Seed Faker and factory_boy's random generator and restart every factory's sequence.

    The plugin schedules this for each test with a per-test seed, so a failing test's values
    (names, ids, tokens) are the same when it is run again with the same seed. An explicit call
    replaces the seed the plugin scheduled for the running test.
    """
    take_factory_seed()
    factory.random.reseed_random(seed)
    pending = [AmpdbFactory]
    while pending:
        each = pending.pop()
        pending.extend(each.__subclasses__())
        # a project's subclass of a concrete factory shares its parent's counter
        if not each._meta.abstract and each._meta.counter_reference.factory is each:
            each.reset_sequence()


class ParentId(factory.SubFactory):  # type: ignore[misc]
    """A ``SubFactory`` whose value is the made parent's ``id`` (the column the model holds).

    Giving the id column a value (``project_id=...``) replaces this declaration, so no parent
    is made then; keyword arguments set the parent's fields as with ``SubFactory``.
    """

    def evaluate(self, instance: Any, step: Any, extra: Any) -> Any:
        return super().evaluate(instance, step, extra).id


def parent_id(parent: str, factory_ref: str | type[AmpdbFactory[Any]], **fields: Any) -> Any:
    """``<parent>_id``: the id of the ``parent`` object given, else a new parent in this project.

    ``factory_ref`` is the parent's factory: a class, a dotted path, or the name of a packaged
    factory (``"ConnectionFactory"``); the new parent gets ``project_id`` (and ``fields``) from
    the factory being built, so a fresh chain shares one project. Pair it with
    ``project_id = project_id_from(parent)`` and ``parent = None`` among the ``Params``, so a
    given parent also gives its project.
    """
    if isinstance(factory_ref, str) and "." not in factory_ref:
        factory_ref = f"{ENTITIES_MODULE}.{factory_ref}"
    return factory.Maybe(
        parent,
        yes_declaration=factory.SelfAttribute(f"{parent}.id"),
        no_declaration=ParentId(
            factory_ref,
            project_id=factory.SelfAttribute("..project_id"),
            **fields,
        ),
    )


def project_id_from(*parents: str) -> Any:
    """``project_id``: the ``project`` given, else the first given parent's, else a new project."""
    declaration: Any = ParentId(f"{ENTITIES_MODULE}.ProjectFactory")
    for parent in reversed(parents):
        declaration = factory.Maybe(
            parent,
            yes_declaration=factory.SelfAttribute(f"{parent}.project_id"),
            no_declaration=declaration,
        )
    return factory.Maybe(
        "project",
        yes_declaration=factory.SelfAttribute("project.id"),
        no_declaration=declaration,
    )


def given_or(parent: str, attribute: str, otherwise: Any) -> Any:
    """A field copied from the ``parent`` object when one is given, else ``otherwise``."""
    return factory.Maybe(
        parent,
        yes_declaration=factory.SelfAttribute(f"{parent}.{attribute}"),
        no_declaration=otherwise,
    )


def rng() -> random.Random:
    """factory_boy's random generator (reseeded together with Faker's by ``reseed``)."""
    generator: random.Random = factory.random.randgen
    return generator
