"""Connection URLs: point one at another database, check one, and show one without its password.

This is the one place that knows where a password sits in a DSN (URL userinfo, ``?password=``,
``password=`` in key=value form). Every message, header line, report property and repr the
plugin and the CLI produce goes through ``redact_url`` / ``redact_text``, and ``Dsn`` keeps a
DSN's password out of tracebacks that show locals (``pytest -l``).
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import Conninfo

from pytest_ampdb.errors import AmpdbError

CONNECT_TIMEOUT = 10
"""Seconds a connection may take to open unless the DSN or ``PGCONNECT_TIMEOUT`` says otherwise."""
_URL = re.compile(r"^postgres(ql)?://", re.IGNORECASE)
_UNKNOWN_PARAMETER = re.compile(
    r'^invalid (?:URI query parameter: |connection option )"([A-Za-z_][A-Za-z0-9_]{0,62})"$'
)
HIDDEN = "xxxxx"


class Dsn(str):
    """A DSN whose ``repr`` hides the password (``str`` is the DSN itself, for the driver).

    pytest shows the ``repr`` of locals (``-l``), of fixture values and of assertion operands;
    holding DSNs in this type keeps them out of every such report.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact_url(str(self)))


class DsnError(AmpdbError):
    """A DSN libpq cannot parse; the message names where it came from, never its text."""


def check_dsn(dsn: str, source: str) -> Dsn:
    """``dsn`` as a ``Dsn`` if libpq can parse it; else a ``DsnError`` naming ``source`` only.

    libpq's own parse errors quote the text around the fault, often part of the password, so
    they are never passed on.
    """
    try:
        conninfo_to_dict(dsn)
    except ProgrammingError as exc:
        unknown = _UNKNOWN_PARAMETER.search(str(exc))
        if unknown:
            raise DsnError(f"{source} {_unknown_parameter(unknown.group(1))}") from None
        raise DsnError(
            f"{source} cannot be parsed as a postgresql:// URL or a key=value string; "
            "in a URL percent-encode the password's special characters (% as %25, @ as %40, "
            "/ as %2F, : as %3A, & as %26, space as %20), in key=value form quote it ('...', "
            "with \\' for a quote)"
        ) from None
    return Dsn(dsn)


def _unknown_parameter(word: str) -> str:
    """What to say of a parameter libpq does not know. The word itself is never shown: an
    unencoded ``&`` or space in a password makes libpq take the password's tail for one."""
    close = difflib.get_close_matches(word, _libpq_keywords(), n=1, cutoff=0.75)
    if close:
        return f"names a connection parameter libpq does not know; did you mean {close[0]!r}?"
    return (
        "names a connection parameter libpq does not know (or holds an unencoded & or space "
        "in a password: percent-encode it, & as %26, space as %20)"
    )


@functools.cache
def _libpq_keywords() -> list[str]:
    return sorted(d.keyword.decode() for d in Conninfo.get_defaults())


def shown_dsn(dsn: str) -> str:
    """``dsn`` as it may be shown: redacted, or not at all when libpq cannot parse it (where its
    password ends is then anyone's guess)."""
    try:
        conninfo_to_dict(dsn)
    except ProgrammingError:
        return "(a DSN that cannot be parsed)"
    return redact_url(dsn)


def with_dbname(dsn: str, dbname: str) -> Dsn:
    """``dsn`` naming ``dbname`` instead; a URL stays a URL (other drivers want one)."""
    if _URL.match(dsn):
        parts = urlsplit(dsn)
        return Dsn(urlunsplit(parts._replace(path="/" + quote(dbname, safe=""))))
    return Dsn(make_conninfo(dsn, dbname=dbname))


def dbname_of(dsn: str) -> str:
    """The database a DSN names (``postgres`` when it names none)."""
    return str(conninfo_to_dict(dsn).get("dbname") or "postgres")


_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"\b(postgres(?:ql)?|[a-z][a-z0-9+.-]*)://[^\s'\"]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``xxxxx`` (URL userinfo, query or key=value form).

    The userinfo of a URL ends at its *last* ``@``, so a password holding a raw ``@``, ``/`` or
    space (which libpq would refuse) is hidden whole too.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or " " in scheme or "=" in scheme:
        return _KV_PASSWORD.sub(rf"\g<1>{HIDDEN}", url)
    userinfo, at, after = rest.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        rest = f"{user}:{HIDDEN}@{after}"
    return _QUERY_PASSWORD.sub(rf"\g<1>{HIDDEN}", f"{scheme}://{rest}")


def redact_text(text: str) -> str:
    """Redact every URL and ``password=`` pair found inside a free-form message."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _KV_PASSWORD.sub(rf"\g<1>{HIDDEN}", text)


def bounded(dsn: str) -> dict[str, Any]:
    """``psycopg.connect`` keywords giving ``dsn`` a connect timeout, unless it (or libpq's
    ``PGCONNECT_TIMEOUT``) sets one: psycopg's own default is over two minutes."""
    if os.environ.get("PGCONNECT_TIMEOUT") or "connect_timeout" in conninfo_to_dict(dsn):
        return {}
    return {"connect_timeout": CONNECT_TIMEOUT}
