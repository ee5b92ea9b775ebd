"""The one mechanism behind every mock builder and every built mock.

A mock class names its interface by subclassing it (``class ConnectionMock(RepositoryMock,
ConnectionRepository)``): at class creation every interface method is replaced by one that checks
the call against the interface's signature, records it and forwards it to the stub, or raises
``NotStubbedError``. A builder names its mock class as its type argument (``class
ConnectionBuilder(Builder[ConnectionMock])``) and gets one ``with_<method>`` per interface method.
Subclassing the interface makes the built object usable as that interface for mypy, with
``calls`` on top, and keeps the twelve declarations down to their names.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, NamedTuple, Self, TypeVar, cast

from pytest_ampdb.harness.mock.errors import NotStubbedError
from pytest_ampdb.harness.mock.interface import MethodSpec, interface_methods

Stub = Callable[..., Any]


class Call(NamedTuple):
    """One recorded call: the method name and the arguments exactly as the caller passed them."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class RepositoryMock:
    """Base of every built mock: the stubs it forwards to and the calls it has seen."""

    interface: ClassVar[type[Any]]
    methods: ClassVar[Mapping[str, MethodSpec]]
    builder_name: ClassVar[str]

    def __init__(self, stubs: Mapping[str, Stub]) -> None:
        self._stubs = dict(stubs)
        self.calls: list[Call] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        interface = next((b for b in cls.__bases__ if getattr(b, "_is_protocol", False)), None)
        if interface is None:
            return  # a subclass of a mock class keeps its parent's interface
        cls.interface = interface
        cls.methods = interface_methods(interface)
        cls.builder_name = interface.__name__.removesuffix("Repository") + "Builder"
        for name, spec in cls.methods.items():
            setattr(cls, name, _mock_method(cls, spec))

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one method, in call order."""
        if method not in self.methods:
            raise AttributeError(f"{self.interface.__name__} has no method {method!r}")
        return [call for call in self.calls if call.method == method]

    def _invoke(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            bound = spec.signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{spec.interface}.{spec.shown}: {exc}") from None
        self.calls.append(Call(spec.name, args, dict(kwargs)))
        stub = self._stubs.get(spec.name)
        if stub is None:
            raise NotStubbedError(spec.interface, spec.name, self.builder_name)
        stub_args, stub_kwargs = spec.canonical(bound)
        return stub(*stub_args, **stub_kwargs)

    def __repr__(self) -> str:
        stubbed = ", ".join(sorted(self._stubs)) or "nothing"
        return (
            f"<{type(self).__name__} of {self.interface.__name__}: stubbed {stubbed}; "
            f"{len(self.calls)} call(s)>"
        )


def _mock_method(owner: type[RepositoryMock], spec: MethodSpec) -> Callable[..., Any]:
    def method(self: RepositoryMock, /, *args: Any, **kwargs: Any) -> Any:
        return self._invoke(spec, args, kwargs)

    method.__name__ = spec.name
    method.__qualname__ = f"{owner.__name__}.{spec.name}"
    method.__doc__ = (
        f"Mocked {spec.interface}.{spec.shown}: forwards to the stub, records the call."
    )
    method.__signature__ = spec.signature  # type: ignore[attr-defined]
    return method


MockT = TypeVar("MockT", bound=RepositoryMock)

_BUILDERS: dict[type[Any], type[Builder[Any]]] = {}


class Builder(Generic[MockT]):
    """Collects stubs (``with_<method>(fn)``) and builds independent mocks from them."""

    mock_class: ClassVar[type[RepositoryMock]]
    interface: ClassVar[type[Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mock_class = _mock_class_of(cls)
        if mock_class is None:
            return
        cls.mock_class = mock_class
        cls.interface = mock_class.interface
        mock_class.builder_name = cls.__name__
        for name, spec in mock_class.methods.items():
            setattr(cls, f"with_{name}", _with_method(cls, spec))
        _BUILDERS[mock_class.interface] = cls

    def __init__(self) -> None:
        self._stubs: dict[str, Stub] = {}

    def stub(self, method: str, fn: Stub) -> Self:
        """Stub ``method`` by name (what ``with_<method>(fn)`` does); checked the same way."""
        spec = self.mock_class.methods.get(method)
        if spec is None:
            raise AttributeError(self._no_method(method))
        spec.check_stub(fn, type(self).__name__)
        self._stubs[method] = fn
        return self

    def build(self) -> MockT:
        """A new mock with the stubs given so far; later ``with_...`` calls do not change it."""
        return cast(MockT, self.mock_class(self._stubs))

    def __getattr__(self, name: str) -> Callable[[Stub], Self]:
        # Only reached for names the class lacks: every real with_<method> is a class attribute.
        # Typed so that ``with_<method>(fn)`` type-checks; the runtime check is the stub check.
        if name.startswith("with_") and "mock_class" in type(self).__dict__:
            raise AttributeError(self._no_method(name.removeprefix("with_")))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _no_method(self, method: str) -> str:
        known = ", ".join(self.mock_class.methods)
        return f"{self.interface.__name__} has no method {method!r} to stub (it has: {known})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(stubbed: {', '.join(sorted(self._stubs)) or 'nothing'})"


def _mock_class_of(cls: type[Any]) -> type[RepositoryMock] | None:
    for base in cls.__dict__.get("__orig_bases__", ()):
        if typing.get_origin(base) is Builder:
            (arg,) = typing.get_args(base)
            if isinstance(arg, type) and issubclass(arg, RepositoryMock):
                return arg
    return None


def _with_method(owner: type[Builder[Any]], spec: MethodSpec) -> Callable[..., Any]:
    def with_method(self: Builder[Any], fn: Stub) -> Builder[Any]:
        return self.stub(spec.name, fn)

    with_method.__name__ = f"with_{spec.name}"
    with_method.__qualname__ = f"{owner.__name__}.with_{spec.name}"
    with_method.__doc__ = (
        f"Stub {spec.interface}.{spec.shown}; the stub gets positional parameters by position "
        "and keyword-only ones by name, defaults filled in."
    )
    return with_method


def builders() -> Mapping[type[Any], type[Builder[Any]]]:
    """Every builder class by the interface it mocks."""
    return dict(_BUILDERS)
