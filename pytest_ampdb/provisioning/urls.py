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


_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"\b(postgres(?:ql)?|[a-z][a-z0-9+.-]*)://[^\s'\"]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``xxxxx`` (URL userinfo, query or key=value form)."""
    if "://" not in url:
        return _KV_PASSWORD.sub(r"\1xxxxx", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return _KV_PASSWORD.sub(r"\1xxxxx", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:xxxxx@{host}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2xxxxx", parts.query, flags=re.IGNORECASE)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str) -> str:
    """Redact every URL and ``password=`` pair found inside a free-form message."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _KV_PASSWORD.sub(r"\1xxxxx", text)
