"""The one mechanism behind ``database`` and ``async_database``: repositories in effect now.

A repository injected for this context (``use``, ``with_<entity>_repository``) wins; else the
process-wide default, created on first use. Injection uses contextvars, so it is scoped to the
current thread or asyncio task and never leaks into another. The sync and the async facade are
two ``Injection`` objects over their own bundle type.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, Protocol, TypeVar

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.types import TABLE_NAMES
from pytest_ampdb.types.bundle import repository_of

R = TypeVar("R")


class Bundle(Protocol):
    def by_table(self) -> dict[str, Any]: ...


B = TypeVar("B", bound=Bundle)
DefaultState = tuple[Any, Any]


class Injection(Generic[B]):
    """Per-context repositories over a process-wide default, for one bundle type."""

    def __init__(self, name: str, bundle: Callable[..., B], make_default: Callable[[], B]) -> None:
        self.bundle = bundle
        self.make_default = make_default
        self.vars: dict[str, ContextVar[Any]] = {
            table: ContextVar(f"{name}_{table}", default=None) for table in TABLE_NAMES
        }
        self.declared_var: ContextVar[Mapping[str, Any] | None] = ContextVar(
            f"{name}_declared", default=None
        )
        """Repositories of a project's own entities put in effect by ``use(repos)``."""
        self.repos: B | None = None
        self.provider: Callable[[], B] | None = None
        self.lock = threading.Lock()

    def current(self, table: str) -> Any:
        """The repository in effect for ``table`` in this context (a project's own entity too)."""
        if table not in self.vars:
            found = self.declared().get(table)
            if found is None:
                raise AmpdbError(
                    f"no repository for table {table!r}: not one of the packaged tables nor of "
                    "the project's schema in effect (--ampdb-schema)"
                )
            return found
        repo = self.vars[table].get()
        return repo if repo is not None else getattr(self.default(), table)

    def declared(self) -> Mapping[str, Any]:
        """The repositories of the project's own entities in effect in this context, by table."""
        injected = self.declared_var.get()
        if injected is not None:
            return injected
        found: Mapping[str, Any] = getattr(self.default(), "declared", {})
        return found

    def repositories(self) -> B:
        """All repositories in effect in this context, as one bundle (a project's own too)."""
        packaged = {table: self.current(table) for table in TABLE_NAMES}
        return self.bundle(**packaged, declared=self.declared())

    def of(self, model: type[Any], *, scoped: bool) -> Any:
        """The repository in effect of the table whose model is ``model`` (``database.of``)."""
        return repository_of(self.repositories().by_table(), model, scoped=scoped)

    def accessor(self, facade: str, name: str) -> Accessor[Any]:
        """``<facade>.<table>()`` for a table a project's schema adds (a module ``__getattr__``):
        found among the repositories in effect, else the ``AttributeError`` Python expects."""
        if not name.startswith("_"):
            try:
                if name in self.declared():
                    return Accessor(self, name)
            except AmpdbError as exc:  # no database configured: say so, as AttributeError
                raise AttributeError(f"{facade}.{name}: {exc}") from None
        raise AttributeError(
            f"module {facade!r} has no attribute {name!r} (nor has the schema in effect such "
            "a table)"
        )

    @contextmanager
    def use(self, repos: B | None = None, /, **by_table: Any) -> Iterator[B | None]:
        """Put ``repos`` (and/or single repositories by table name: a packaged table, or one of
        the project's own entities in effect) in effect inside the block."""
        own_by_table = {t: by_table.pop(t) for t in set(by_table) - set(TABLE_NAMES)}
        own = getattr(repos, "declared", None)
        if own_by_table:
            known = own if own is not None else self._own_entities(sorted(own_by_table))
            unknown = sorted(set(own_by_table) - set(known))
            if unknown:
                raise TypeError(
                    f"use() got unknown table name(s): {', '.join(unknown)} (neither packaged "
                    "tables nor the project's own entities in effect)"
                )
            own = {**known, **own_by_table}
        chosen = {t: getattr(repos, t) for t in TABLE_NAMES} if repos is not None else {}
        chosen.update(by_table)
        tokens = [(self.vars[table], self.vars[table].set(repo)) for table, repo in chosen.items()]
        own_token = self.declared_var.set(own) if own is not None else None
        try:
            yield repos
        finally:
            if own_token is not None:
                self.declared_var.reset(own_token)
            for var, token in reversed(tokens):
                var.reset(token)

    def _own_entities(self, names: list[str]) -> Mapping[str, Any]:
        """``declared()`` for ``use(<own table>=...)``: the repositories in effect must be had
        to know the project's own entities (no database configured: a ``TypeError`` saying so)."""
        try:
            return self.declared()
        except AmpdbError as exc:
            raise TypeError(
                f"use() got {', '.join(names)}, not a packaged table, and the project's own "
                f"entities are not known: {exc} (or put a bundle in effect: use(repos))"
            ) from None

    def default(self) -> B:
        """The process-wide default, created on first use (by the provider, else the maker)."""
        repos = self.repos
        if repos is None:
            with self.lock:
                if self.repos is None:
                    self.repos = (self.provider or self.make_default)()
                repos = self.repos
        return repos

    def set_default(
        self, repos: B | None = None, *, provider: Callable[[], B] | None = None
    ) -> DefaultState:
        """Make ``repos`` (or what ``provider`` creates on first use) the default; returns the
        previous state for ``restore_default``."""
        with self.lock:
            previous = (self.repos, self.provider)
            self.repos, self.provider = repos, provider
        return previous

    def restore_default(self, state: DefaultState) -> None:
        """Put back what ``set_default`` returned."""
        with self.lock:
            self.repos, self.provider = state


class Accessor(Generic[R]):
    """``<facade>.<table>()``: the repository of one table in effect now."""

    def __init__(self, injection: Injection[Any], table: str) -> None:
        self.injection = injection
        self.table = table

    def __call__(self) -> R:
        repo: R = self.injection.current(self.table)
        return repo


class Injector(Generic[R]):
    """``<facade>.with_<entity>_repository(repo)``: a context manager injecting one repository."""

    def __init__(self, injection: Injection[Any], table: str) -> None:
        self.injection = injection
        self.table = table

    @contextmanager
    def __call__(self, repo: R) -> Iterator[R]:
        with self.injection.use(**{self.table: repo}):
            yield repo
