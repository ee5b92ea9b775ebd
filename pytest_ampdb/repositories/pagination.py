"""Opaque page tokens: the list-order key of the last row served, so paging is keyset-based.

A token is bound to the list that issued it (the table and the filters, project included, not
the page size): asked of another list it is refused, as AIP-158 asks, instead of silently
serving that list from an unrelated position.

The same token format serves every backend, so a token from one page request is valid for the
next whatever the storage, and rows inserted meanwhile never shift a page. A secret in the sort
key (``api_keys.key``) is sealed with AES-SIV: the token still finds its place exactly, but
reveals nothing. The sealing key is derived from ``AMPDB_PAGE_TOKEN_SECRET`` when it is set, so
every instance of a service (behind one load balancer) opens the others' tokens; without it a
key is made for this process, and only this process can open its tokens.

Following a token is the common case (a caller pages through a list), so the last tokens issued
are remembered with the key they carry: decoding one of them is a dictionary lookup. Any other
token is decoded and checked in full.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import json
import os
import re
import zlib
from binascii import b2a_base64
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from pytest_ampdb.errors import ValidationError
from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.schema import BEYOND_9999, Row, TableSpec

MAX_PAGE_SIZE = 1000

SECRET_VARIABLE = "AMPDB_PAGE_TOKEN_SECRET"
"""The environment variable holding the secret every instance of a service shares for its tokens."""

_SEALED_HINT = (
    f" (a token that seals a key opens only in the process that issued it, unless every "
    f"instance sets {SECRET_VARIABLE} to the same secret)"
)

ISSUED_LIMIT = 4096
"""Tokens remembered with their keys; past it the memory starts over (decoding still works)."""

_issued: dict[tuple[TableSpec[Any], str], tuple[str, tuple[object, ...]]] = {}
"""(spec, token) -> the token's list binding and list-order key."""

_writers: dict[TableSpec[Any], Callable[[str, tuple[object, ...]], str]] = {}

_lists: dict[tuple[object, ...], str] = {}
"""(spec, the filter's items) -> the list's binding (``binding``), remembered like ``_issued``."""


if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV


@functools.cache
def _sealer() -> AESSIV:
    """Deterministic authenticated encryption: equal keys give equal tokens in both backends.

    Made on first use, so a process that never lists API keys does not import cryptography.
    The key is derived (HKDF-SHA256) from ``AMPDB_PAGE_TOKEN_SECRET`` when it is set, else made
    at random for this process.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    secret = os.environ.get(SECRET_VARIABLE, "")
    if not secret:
        return AESSIV(AESSIV.generate_key(512))
    derive = HKDF(hashes.SHA256(), length=64, salt=None, info=b"pytest-ampdb page tokens")
    return AESSIV(derive.derive(secret.encode()))


def binding(spec: TableSpec[Any], where: Mapping[str, object]) -> str:
    """What binds a token to its list: a digest of the table and the filter (stored values),
    the same in every backend and process, and whatever order the filter is given in."""
    found = _lists.get((spec, *where.items()))
    if found is None:
        text = "\x1f".join([spec.name, *sorted(f"{c}={v!r}" for c, v in where.items())])
        found = f"{zlib.crc32(text.encode()):08x}"
        if len(_lists) >= ISSUED_LIMIT:
            _lists.clear()
        _lists[(spec, *where.items())] = found
    return found


def encode(spec: TableSpec[Any], row: Row, bound: str) -> str:
    """The token for the page that starts after ``row`` in the list ``bound`` names
    (``binding``)."""
    key = tuple([row[name] for name in spec.order_by])
    write = _writers.get(spec)
    if write is None:
        write = _writers[spec] = _writer_for(spec)
    token = b2a_base64(write(bound, key).encode(), newline=False).translate(_URLSAFE).decode()
    if len(_issued) >= ISSUED_LIMIT:
        _issued.clear()
    _issued[spec, token] = (bound, key)
    return token


def decode(spec: TableSpec[Any], token: str, bound: str) -> tuple[object, ...]:
    """The list-order key a token carries; a ``ValidationError`` for a token we never issued,
    or one issued for another list than ``bound`` names (``binding``)."""
    if type(token) is str:
        issued = _issued.get((spec, token))
        if issued is not None:
            if issued[0] != bound:
                raise _elsewhere(spec)
            return issued[1]
    with _not_issued(spec):
        issuer, values = _opened(spec, token)
    if issuer is not None and issuer != bound:
        raise _elsewhere(spec)
    secrets = _secrets(spec)
    with _not_issued(spec):
        return tuple(
            spec.stored(name, _read(spec, name, value, secrets))
            for name, value in zip(spec.order_by, values, strict=True)
        )


def _opened(spec: TableSpec[Any], token: object) -> tuple[str | None, list[object]]:
    """A token's binding (None in a token issued before tokens were bound to their list, which
    is still followed) and its JSON values, one per list-order column."""
    if not isinstance(token, str):
        raise ValueError("not text")
    values = json.loads(base64.urlsafe_b64decode(token.encode()))
    if not isinstance(values, list):
        raise ValueError("wrong shape")
    issuer = None
    if len(values) == len(spec.order_by) + 1:
        first = values[0]
        if not (isinstance(first, str) and _BINDING.fullmatch(first)):
            raise ValueError("wrong shape")
        issuer, values = first, values[1:]
    if len(values) != len(spec.order_by):
        raise ValueError("wrong shape")
    return issuer, values


_BINDING = re.compile(r"[0-9a-f]{8}")


@contextlib.contextmanager
def _not_issued(spec: TableSpec[Any]) -> Iterator[None]:
    """Whatever a token holds that cannot be read is one ``ValidationError``: not ours."""
    try:
        yield
    except (
        ValueError,
        OverflowError,
        binascii.Error,
        UnicodeDecodeError,
        RecursionError,
        ValidationError,
    ):
        hint = _SEALED_HINT if _secrets(spec) else ""
        raise ValidationError(
            spec.name, "page_token", f"is not a token this list issued{hint}"
        ) from None


def _elsewhere(spec: TableSpec[Any]) -> ValidationError:
    return ValidationError(
        spec.name,
        "page_token",
        "was issued for another list (another table or other filters); a token continues "
        "only the list that issued it",
    )


def check_page_size(spec: TableSpec[Any], page_size: int) -> None:
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValidationError(spec.name, "page_size", "must be an integer")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(spec.name, "page_size", f"must be between 1 and {MAX_PAGE_SIZE}")


def _secrets(spec: TableSpec[Any]) -> frozenset[str]:
    secrets: frozenset[str] = getattr(spec.model, "secrets", frozenset())
    return secrets


def _seal(spec: TableSpec[Any], column: str, value: str) -> str:
    sealed = _sealer().encrypt(value.encode(), [f"{spec.name}.{column}".encode()])
    return base64.urlsafe_b64encode(sealed).decode()


def _open(spec: TableSpec[Any], column: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("not a sealed value")
    from cryptography.exceptions import InvalidTag

    sealed = base64.urlsafe_b64decode(value.encode())
    try:
        return _sealer().decrypt(sealed, [f"{spec.name}.{column}".encode()]).decode()
    except InvalidTag:
        raise ValueError("not sealed under this process's key") from None


def _writer_for(spec: TableSpec[Any]) -> Callable[[str, tuple[object, ...]], str]:
    """How a list binding and a list-order key are written as a token's JSON array, each column
    by its kind (worked out once per table: a token is made for every page but the last)."""
    secrets = _secrets(spec)
    writers: list[Callable[[Any], str]] = []
    for name in spec.order_by:
        kind = spec.column_map[name].kind
        if name in secrets:
            writers.append(functools.partial(_sealed, spec, name))
        elif kind is Kind.TIMESTAMPTZ:
            writers.append(_instant)
        elif kind is Kind.UUID:
            writers.append(_canonical)
        else:
            writers.append(_json)
    if len(writers) == 2:  # the common (create_time, id): no loop
        first, second = writers
        return lambda bound, key: '["' + bound + '",' + first(key[0]) + "," + second(key[1]) + "]"
    return lambda bound, key: (
        '["' + bound + '",' + ",".join([w(v) for w, v in zip(writers, key, strict=True)]) + "]"
    )


def _read(spec: TableSpec[Any], name: str, value: object, secrets: frozenset[str]) -> object:
    """A token's JSON value for list-order column ``name``, ready for ``spec.stored``."""
    if name in secrets:
        return _open(spec, name, value)
    if type(value) is int and spec.column_map[name].kind is Kind.TIMESTAMPTZ:
        try:
            return _EPOCH + timedelta(microseconds=value)
        except OverflowError:  # past 9999 in UTC: held as ``BEYOND_9999`` holds it
            return _EPOCH_WEST + timedelta(microseconds=value)
    return value  # (an instant as ISO text: a token issued before instants were numbers)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_WEST = _EPOCH.astimezone(BEYOND_9999)
_MICROSECOND = timedelta(microseconds=1)
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _instant(value: datetime) -> str:
    """A stored time as whole microseconds since 1970 UTC: exact, and a fifth of ``isoformat``'s
    cost."""
    return str((value - _EPOCH) // _MICROSECOND)


def _canonical(value: str) -> str:
    """A stored UUID: canonical lowercase text, nothing in it to escape."""
    return '"' + value + '"'


def _sealed(spec: TableSpec[Any], column: str, value: str) -> str:
    return '"' + _seal(spec, column, value) + '"'


def _json(value: Any) -> str:
    """One JSON value, as ``json.dumps`` writes it, without building an encoder per call."""
    if type(value) is str:
        return encode_basestring_ascii(value)
    return json.dumps(value)
