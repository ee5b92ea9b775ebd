"""Building a model from a stored row, fast: the one step every repository call ends with.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` after parsing
keyword arguments, about twice what it costs to write each slot through its descriptor. For a
model whose ``__init__`` only stores its fields (a generated one, no ``__post_init__``, every
field a slot) ``constructor`` writes the slots directly, in code generated once per model; the
model is exactly the one ``model(**row)`` gives. Any other model, or a row that is not exactly
the model's fields, goes through ``model(**row)`` itself, so its errors are unchanged.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
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
