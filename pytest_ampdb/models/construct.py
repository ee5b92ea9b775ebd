"""Building a model from a stored row, fast: the one step every repository call ends with.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` after parsing
keyword arguments, about twice what it costs to write each slot through its descriptor. For a
model whose ``__init__`` only stores its fields (a generated one, no ``__post_init__``, every
field a slot) ``constructor`` writes the slots directly, in code generated once per model; the
model is exactly the one ``model(**row)`` gives. Any other model, or a row that is not exactly
the model's fields, goes through ``model(**row)`` itself, so its errors are unchanged.

``values_constructor`` does the same from a row's values in a fixed column order (a result row
as PostgreSQL sends it), converting the columns that need it on the way, with no dictionary made
per row.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

M = TypeVar("M")


def constructor(model: type[M]) -> Callable[[Mapping[str, Any]], M]:
    """A function ``row -> model`` equal to ``model(**row)``."""

    def slow(row: Mapping[str, Any]) -> M:
        return model(**row)

    setters = _slot_setters(model)
    if setters is None:
        return slow
    names = list(setters)
    params = "".join(f", _s{i}=_s{i}" for i in range(len(names)))
    lines = [
        f"def build(row, _new=_new, _model=_model, _slow=_slow, _width={len(names)}{params}):",
        "    if len(row) != _width:",
        "        return _slow(row)",
        "    self = _new(_model)",
        "    try:",
        *(f"        _s{i}(self, row[{name!r}])" for i, name in enumerate(names)),
        "    except KeyError:",
        "        return _slow(row)",
        "    return self",
    ]
    namespace: dict[str, Any] = {"_new": object.__new__, "_model": model, "_slow": slow}
    namespace.update({f"_s{i}": setter for i, setter in enumerate(setters.values())})
    exec("\n".join(lines), namespace)  # field names appear only as repr() string literals
    built: Callable[[Mapping[str, Any]], M] = namespace["build"]
    return built


def values_constructor(
    model: type[M], names: Sequence[str], readers: Mapping[str, Callable[[Any], Any]]
) -> Callable[[Sequence[Any]], M]:
    """A function ``values -> model`` equal to ``model(**row)``, where ``row`` maps ``names`` to
    ``values`` in order, each value not None of a column in ``readers`` read through it first."""
    fields = list(names)
    convert = [readers.get(name) for name in fields]

    def slow(values: Sequence[Any]) -> M:
        row = {
            name: read(value) if read is not None and value is not None else value
            for name, read, value in zip(fields, convert, values, strict=True)
        }
        return model(**row)

    setters = _slot_setters(model)
    if setters is None or sorted(setters) != sorted(fields):
        return slow
    bound = [f"_s{i}" for i in range(len(fields))]
    bound += [f"_r{i}" for i, read in enumerate(convert) if read is not None]
    lines = [
        f"def build(values, _new=_new, _model=_model{''.join(f', {b}={b}' for b in bound)}):",
        f"    ({', '.join(f'_v{i}' for i in range(len(fields)))},) = values",
        "    self = _new(_model)",
    ]
    for i, read in enumerate(convert):
        value = f"_v{i}" if read is None else f"(None if _v{i} is None else _r{i}(_v{i}))"
        lines.append(f"    _s{i}(self, {value})")
    lines.append("    return self")
    namespace: dict[str, Any] = {"_new": object.__new__, "_model": model}
    namespace.update({f"_s{i}": setters[name] for i, name in enumerate(fields)})
    namespace.update({f"_r{i}": read for i, read in enumerate(convert) if read is not None})
    exec("\n".join(lines), namespace)  # no name from the model appears in the code
    built: Callable[[Sequence[Any]], M] = namespace["build"]
    return built


def _slot_setters(model: type[Any]) -> dict[str, Callable[[object, object], None]] | None:
    """Field name -> its slot's setter, or None when ``model(**row)`` may do more than store
    each field (a hand-written ``__init__``, ``__post_init__``, a field not set by ``__init__``
    or not held in a slot)."""
    if not dataclasses.is_dataclass(model) or hasattr(model, "__post_init__"):
        return None
    if not _generated_init(model):
        return None
    setters: dict[str, Callable[[object, object], None]] = {}
    for field in dataclasses.fields(model):
        if not field.init:
            return None
        name = field.name
        slot = next((k.__dict__[name] for k in model.__mro__ if name in k.__dict__), None)
        if not isinstance(slot, types.MemberDescriptorType):
            return None
        setters[field.name] = slot.__set__
    return setters


def _generated_init(model: type[Any]) -> bool:
    """Whether ``model.__init__`` is one ``dataclasses`` generated (compiled from a string)."""
    init = model.__init__
    code = getattr(init, "__code__", None)
    return code is not None and code.co_filename == "<string>"
