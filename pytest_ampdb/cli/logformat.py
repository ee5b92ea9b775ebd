"""``--format``: the few Go-template actions CI scripts written for Atlas use, and Go's JSON.

A report is a :class:`Struct` that says, per field, its Go name (what ``{{ .Name }}`` reads) and
its JSON key and ``omitempty`` (what ``{{ json . }}`` prints), as Atlas's struct tags do. Only
``{{ json PATH [PREFIX] [INDENT] }}``, ``{{ PATH }}`` (a string, number or boolean),
``{{ len PATH }}``, ``{{ print PATH }}``, ``{{ println [PATH] }}`` and
``{{ range PATH }}...{{ end }}`` (``.`` is then each element) are understood; anything else is
refused before the command runs, never printed wrongly. Text outside ``{{ }}`` is copied,
``{{-``/``-}}`` trim spaces as in Go.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

from pytest_ampdb.migrations.errors import UsageError
from pytest_ampdb.migrations.goformat import go_duration

SUPPORTED = (
    "{{ json . }}, {{ .Field }}, {{ len .Field }}, {{ println .Field }}, "
    "{{ range .List }}...{{ end }}"
)


@dataclass(frozen=True)
class Time:
    """A Go ``time.Time``: JSON in RFC 3339 with nanoseconds, never left out by omitempty."""

    at: dt.datetime

    def rfc3339nano(self) -> str:
        """Go's ``time.RFC3339Nano``: the fraction without trailing zeros, ``Z`` for UTC."""
        text = self.at.strftime("%Y-%m-%dT%H:%M:%S")
        if self.at.microsecond:
            text += f".{self.at.microsecond:06d}".rstrip("0")
        offset = self.at.utcoffset() or dt.timedelta(0)
        if not offset:
            return text + "Z"
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True)
class Duration:
    """A Go ``time.Duration``: nanoseconds in JSON, ``1.5ms`` when printed."""

    ns: int


Value = Union[str, int, bool, None, Time, Duration, "Struct", list["Value"]]


@dataclass(frozen=True)
class Field:
    """One field: ``name`` for templates (None: JSON only), ``key`` for JSON (None: not
    marshaled, like ``json:"-"`` or a method)."""

    name: str | None
    value: Value
    key: str | None = None
    omitempty: bool = False


@dataclass(frozen=True)
class Struct:
    fields: tuple[Field, ...]

    def get(self, name: str) -> Value:
        for f in self.fields:
            if f.name == name:
                return f.value
        raise KeyError(name)


def omitted(value: Value) -> bool:
    """Go's omitempty: empty strings, zero numbers, false, nil and empty lists (never a time
    or a struct)."""
    return value is None or (not isinstance(value, Time | Struct) and not value)


def plain(value: Value) -> object:
    """The value as Python's json module writes it, in Go's key order and choices."""
    if isinstance(value, Struct):
        return {
            f.key: plain(f.value)
            for f in value.fields
            if f.key is not None and not (f.omitempty and omitted(f.value))
        }
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Time):
        return value.rfc3339nano()
    if isinstance(value, Duration):
        return value.ns
    return value


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_GO_ESCAPES["\u2029"] = "\\u2029"
_GO_ESCAPED = re.compile("[<>&\u2028\u2029\ud800-\udfff]")


def go_json(value: Value, prefix: str = "", indent: str | None = None) -> str:
    """``json.Marshal`` (or ``MarshalIndent`` with ``indent``) as Go writes it: compact, UTF-8
    kept, ``<``, ``>``, ``&`` escaped, and a byte that is not UTF-8 (kept by ``surrogateescape``)
    written as ``\\ufffd``: all of them only occur inside strings."""
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(plain(value), ensure_ascii=False, indent=indent, separators=separators)
    text = _GO_ESCAPED.sub(lambda m: _GO_ESCAPES.get(m.group(), "\\ufffd"), text)
    return text.replace("\n", "\n" + prefix) if indent is not None else text


# -- templates --------------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-[ \t\r\n])?(.*?)([ \t\r\n]-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|\S+')
_PATH = re.compile(r"\.|(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


@dataclass(frozen=True)
class Action:
    func: str  # "", "json", "len", "print" or "println"
    path: tuple[str, ...] | None  # None: println without an argument
    args: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Range:
    """``{{ range PATH }}BODY{{ end }}``: the body once per element of a list."""

    path: tuple[str, ...]
    body: tuple[Part, ...]


Part = str | Action | Range


def refuse(reason: str) -> UsageError:
    return UsageError(f"--format: {reason} (ampdb supports {SUPPORTED})")


def parse(template: str) -> list[Part]:
    """The template's text and actions; an action this module cannot run is refused."""
    stack: list[tuple[tuple[str, ...], list[Part]]] = [((), [])]
    pos = 0
    for m in _ACTION.finditer(template):
        text = template[pos : m.start()]
        stack[-1][1].append(text.rstrip() if m.group(1) else text)
        body = m.group(2).strip()
        tokens = _TOKEN.findall(body)
        if len(tokens) == 2 and tokens[0] == "range" and _PATH.fullmatch(tokens[1]):
            stack.append((_split(tokens[1]), []))
        elif tokens == ["end"]:
            if len(stack) == 1:
                raise refuse("unexpected {{ end }}")
            path, inner = stack.pop()
            stack[-1][1].append(Range(path, tuple(p for p in inner if p != "")))
        else:
            stack[-1][1].append(_action(body))
        pos = m.end()
        if m.group(3):
            pos += len(template[pos:]) - len(template[pos:].lstrip())
    rest = template[pos:]
    if "{{" in rest:  # as in Go, a "}}" in text is text
        raise refuse(f"unclosed action in {template!r}")
    if len(stack) > 1:
        raise refuse("unexpected EOF: a {{ range }} without its {{ end }}")
    stack[0][1].append(rest)
    return [p for p in stack[0][1] if p != ""]


def _action(body: str) -> Action:
    tokens = _TOKEN.findall(body)
    words = [t for t in tokens if not t.startswith(('"', "`"))]
    if len(tokens) == 1 and _PATH.fullmatch(tokens[0]):
        return Action("", _split(tokens[0]))
    if tokens == ["println"]:
        return Action("println", None)
    if len(tokens) == 2 and tokens[0] in ("print", "println") and _PATH.fullmatch(tokens[1]):
        return Action(tokens[0], _split(tokens[1]))
    if len(words) == 2 and tokens[0] in ("json", "len") and _PATH.fullmatch(tokens[1]):
        args = tuple(_string(t) for t in tokens[2:])
        if (tokens[0] == "json" and len(args) <= 2) or not args:
            return Action(tokens[0], _split(tokens[1]), args)
    raise refuse(f"unsupported action {{{{ {body} }}}}")


def _split(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split(".") if p)


def _string(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    try:
        text = json.loads(token)
    except ValueError:
        raise refuse(f"cannot read the string {token}") from None
    return str(text)


def render(parts: Sequence[Part], root: Value, ranged: set[int] | None = None) -> str:
    """Run the parsed template on ``root``; an unknown field or a value that Go would print
    differently (a list, a struct, a time) is refused. ``ranged`` collects the ranges whose
    body ran (see :func:`check`)."""
    out: list[str] = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        elif isinstance(p, Range):
            items = _lookup(p.path, root)
            if not isinstance(items, list):
                raise refuse(f"range over .{'.'.join(p.path)}, which is not a list")
            for item in items:
                if ranged is not None:
                    ranged.add(id(p))
                out.append(render(p.body, item, ranged))
        else:
            out.append(_run(p, root))
    return "".join(out)


def _lookup(path: tuple[str, ...], dot: Value) -> Value:
    value = dot
    for i, name in enumerate(path):
        if not isinstance(value, Struct):
            raise refuse(f"cannot read .{name} of .{'.'.join(path[:i])}")
        try:
            value = value.get(name)
        except KeyError:
            raise refuse(f"no field .{'.'.join(path[: i + 1])}") from None
    return value


def _run(action: Action, dot: Value) -> str:
    if action.path is None:  # println
        return "\n"
    value = _lookup(action.path, dot)
    shown = "." + ".".join(action.path)
    if action.func in ("print", "println"):
        end = "\n" if action.func == "println" else ""
        return _scalar(value, shown) + end
    if action.func == "json":
        if not action.args:
            return go_json(value)
        prefix, indent = action.args if len(action.args) == 2 else ("", action.args[0])
        return go_json(value, prefix, indent)
    if action.func == "len":
        if isinstance(value, list | str):
            return str(len(value))
        raise refuse(f"len of {shown}, which is not a list")
    return _scalar(value, shown)


def _scalar(value: Value, shown: str) -> str:
    """A string, number, boolean or duration as Go prints it; anything else refused."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, Duration):
        return go_duration(value.ns / 1e9)
    raise refuse(f"{shown} is not a string or a number: print it with json")


def check(parts: list[Part], *samples: Struct) -> None:
    """Refuse, before anything runs, a template that ``render`` would refuse on the samples
    (reports of the same shape: field types do not depend on the values). Every range body
    must have run on some sample's element, so that it is checked too."""
    ranged: set[int] = set()
    for sample in samples:
        render(parts, sample, ranged)
    unchecked = [r for r in _ranges(parts) if id(r) not in ranged]
    if unchecked:
        raise refuse(f"cannot check range over .{'.'.join(unchecked[0].path)}")


def refuse_json(parts: Sequence[Part], what: str) -> None:
    """Refuse ``{{ json ... }}`` in a template of a report whose JSON is not Atlas's."""
    for p in parts:
        if isinstance(p, Range):
            refuse_json(p.body, what)
        elif isinstance(p, Action) and p.func == "json":
            raise refuse(f"json of {what} is not supported")


def _ranges(parts: Sequence[Part]) -> list[Range]:
    found: list[Range] = []
    for p in parts:
        if isinstance(p, Range):
            found += [p, *_ranges(p.body)]
    return found
