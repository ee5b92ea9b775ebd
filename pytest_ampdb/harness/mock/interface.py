"""What a mock needs to know about a repository Protocol, read from the Protocol itself.

The methods (inherited ones included, the most derived definition winning), their signatures
with the generic entity type filled in for messages, and the check that a stub can be called the
way the mock will call it. Reading these from ``pytest_ampdb.types`` means a method added to an
interface is mocked, stubbable and checked without touching this package.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol


class _Shown:
    """An annotation printed as its text (so signatures read ``str``, not ``'str'``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class MethodSpec:
    """One interface method: its name, its signature (with ``self``) and how to print it."""

    interface: str
    name: str
    signature: inspect.Signature
    shown: str

    @property
    def parameters(self) -> list[inspect.Parameter]:
        """The parameters a caller passes (``self`` left out)."""
        return list(self.signature.parameters.values())[1:]

    def canonical(self, bound: inspect.BoundArguments) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Arguments as the stub receives them: positional ones by position, the rest by name.

        Defaults are filled in, so a stub sees the whole call whichever way the caller spelled it.
        """
        bound.apply_defaults()
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param in self.parameters:
            value = bound.arguments.get(param.name)
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                args.append(value)
            elif param.kind is param.VAR_POSITIONAL:
                args.extend(value or ())
            elif param.kind is param.KEYWORD_ONLY:
                kwargs[param.name] = value
            else:
                kwargs.update(value or {})
        return tuple(args), kwargs

    def check_stub(self, stub: object, builder: str) -> None:
        """``TypeError`` unless ``stub`` accepts the call ``canonical`` makes."""
        where = f"{builder}.with_{self.name}: stub for {self.interface}.{self.shown}"
        if not callable(stub):
            raise TypeError(f"{where} must be callable, got {type(stub).__name__}")
        try:
            stub_signature = inspect.signature(stub)
        except (TypeError, ValueError):
            return  # no signature to read (some builtins): trust it
        args: list[object] = []
        kwargs: dict[str, object] = {}
        for param in self.parameters:
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                args.append(None)
            elif param.kind is param.KEYWORD_ONLY:
                kwargs[param.name] = None
        try:
            stub_signature.bind(*args, **kwargs)
        except TypeError as exc:
            name = getattr(stub, "__name__", type(stub).__name__)
            raise TypeError(f"{where} cannot be called as {name}{stub_signature}: {exc}") from None


def interface_methods(interface: type[Any]) -> Mapping[str, MethodSpec]:
    """Every public method of a Protocol, inherited ones included, in declaration order."""
    found: dict[str, MethodSpec] = {}
    substitutions = _type_arguments(interface)
    for cls in reversed(interface.__mro__):
        if cls in (object, Protocol, Generic) or not getattr(cls, "_is_protocol", False):
            continue
        for name, value in vars(cls).items():
            if name.startswith("_") or not inspect.isfunction(value):
                continue
            signature = inspect.signature(value)
            spec = MethodSpec(
                interface.__name__, name, signature, _show(name, signature, substitutions)
            )
            found[name] = spec  # a redefinition keeps the place of the one it replaces
    if not found:
        raise TypeError(f"{interface.__name__} declares no methods to mock")
    return found


def _type_arguments(interface: type[Any]) -> dict[str, str]:
    """Type variable name -> the name it is bound to in the interface's generic bases."""
    names: dict[str, str] = {}
    for base in getattr(interface, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        params = getattr(origin, "__parameters__", ())
        for param, arg in zip(params, typing.get_args(base), strict=False):
            names[param.__name__] = getattr(arg, "__name__", repr(arg))
    return names


def _show(name: str, signature: inspect.Signature, substitutions: Mapping[str, str]) -> str:
    """``name(params) -> result`` with string annotations unquoted and type variables filled."""

    def text(annotation: Any) -> Any:
        if annotation is inspect.Parameter.empty:
            return annotation
        raw = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        for var, bound in substitutions.items():
            raw = re.sub(rf"\b{re.escape(var)}\b", bound, raw)
        return _Shown(raw)

    params = [p.replace(annotation=text(p.annotation)) for p in signature.parameters.values()]
    shown = signature.replace(
        parameters=params[1:], return_annotation=text(signature.return_annotation)
    )
    return f"{name}{shown}"
