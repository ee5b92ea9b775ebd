"""Connection URLs: point one at another database, and show one without its password."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_URL = re.compile(r"^postgres(ql)?://", re.IGNORECASE)


def with_dbname(dsn: str, dbname: str) -> str:
    """``dsn`` naming ``dbname`` instead; a URL stays a URL (other drivers want one)."""
    if _URL.match(dsn):
        parts = urlsplit(dsn)
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))
    return make_conninfo(dsn, dbname=dbname)


def dbname_of(dsn: str) -> str:
    """The database a DSN names (``postgres`` when it names none)."""
    return str(conninfo_to_dict(dsn).get("dbname") or "postgres")


def redact(dsn: str) -> str:
    """``dsn`` with any password replaced by ``***``."""
    if _URL.match(dsn):
        parts = urlsplit(dsn)
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            user = parts.username or ""
            parts = parts._replace(netloc=f"{quote(user, safe='')}:***@{host}")
        query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
        return urlunsplit(parts._replace(query=query))
    return re.sub(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn)
