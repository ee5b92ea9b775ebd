"""Shared pieces of the ``ampdb`` command line: exit codes, error lines, URL redaction.

Every subcommand reports a failure the same way (one ``ampdb: error: ...`` line on stderr, no
traceback) and never prints a password, whatever URL the user passed.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

EXIT_OK = 0
EXIT_FAILURE = 1  # a failed check or apply
EXIT_USAGE = 2  # bad usage (argparse exits with 2 as well)

PROG = "ampdb"

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


def print_error(message: object, stream: TextIO | None = None) -> None:
    """Print ``ampdb: error: <message>`` as one line (newlines folded), passwords redacted."""
    out = stream if stream is not None else sys.stderr
    text = " ".join(str(message).split("\n")).strip() or type(message).__name__
    print(f"{PROG}: error: {redact_text(text)}", file=out)
