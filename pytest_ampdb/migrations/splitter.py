"""Split a PostgreSQL migration file into statements the way Atlas's scanner does.

Atlas sends each statement on its own and records, per file, how many statements ran and a hash
of their texts; resuming a partially applied file only works if both tools cut a file into the
same statements with the same text. This is a faithful port of Atlas's ``sql/migrate/lex.go``
with the PostgreSQL driver's options (``BEGIN ... END`` and ``BEGIN ATOMIC`` blocks, dollar
quotes, ``E'...'`` escape strings), quirks included (see ``atlas-format.md`` section 2). Error
positions are ``line:column`` with the column in bytes, as Atlas prints them.

One deliberate departure: Atlas's ``EscapedStringExt`` check reads the opening quote itself, not
the character before it, so it never sees the ``E`` and closes ``E'it\'s'`` at the escaped quote.
PostgreSQL reads one string, so this scanner does too (see :meth:`Scanner.skip_quote`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pytest_ampdb.migrations.checksum import directive
from pytest_ampdb.migrations.errors import ScanError, go_quote

DEFAULT_DELIMITER = ";"
_DELIMITER_CMD = "delimiter"

# Patterns are used with .match(text, pos), which anchors at pos (Go anchors with "^").
# PostgreSQL's tags take any non-ASCII character (scan.l's \200-\377 bytes); Atlas's regex only
# U+00C8-U+00FF, so it split inside a $тело$ body, which PostgreSQL then refused.
_DOLLAR_QUOTE = re.compile(r"\$([A-Za-z\u0080-\U0010ffff_][\w\u0080-\U0010ffff]*)*\$", re.ASCII)
_BEGIN_ATOMIC = re.compile(r"\s*BEGIN\s+ATOMIC\s+", re.ASCII | re.IGNORECASE)
_BEGIN = re.compile(r"\s*BEGIN\s+", re.ASCII | re.IGNORECASE)
_END = re.compile(r"\s*END\s*", re.ASCII | re.IGNORECASE)
_SPACES = " \t\n\r\f\v"  # what "\s" matches in these ASCII patterns
# PostgreSQL's scan.l "quotecontinue": two string constants separated by white space holding a
# newline (comments allowed) are one constant, and an E'...' string stays one when continued.
_QUOTE_CONTINUE = re.compile(r"(?:[ \t\f]|--[^\n\r]*)*[\n\r](?:[ \t\n\r\f]|--[^\n\r]*[\n\r])*'")


@dataclass(frozen=True)
class ScanOptions:
    """Which constructs the scanner understands; the defaults are Atlas's PostgreSQL driver's."""

    match_begin: bool = True
    match_begin_atomic: bool = True
    match_dollar_quote: bool = True
    # Backslash escapes in every quoted string (MySQL's default; off for PostgreSQL).
    backslash_escapes: bool = False
    # Backslash escapes in PostgreSQL's E'...' strings (Atlas's EscapedStringExt).
    escaped_string_ext: bool = True
    # "#" starts a comment (MySQL's; in PostgreSQL "#" is an operator, so off).
    hash_comments: bool = False


@dataclass(frozen=True)
class Statement:
    """A statement's trimmed text, its character offset in the file, and the comments above it."""

    text: str
    pos: int
    comments: list[str] = field(default_factory=list)


class _Skip(Exception):
    """A BEGIN block did not scan as one; the caller carries on scanning normally."""


class Scanner:
    """Atlas's statement scanner over ``text[origin:]``; see :func:`split_statements`."""

    def __init__(self, text: str, origin: int = 0, options: ScanOptions | None = None) -> None:
        self.options = options or ScanOptions()
        self.text = text
        self.origin = origin  # where this scanner's source starts (errors count from here)
        self.start = origin  # where the current (unconsumed) input starts
        self.pos = 0  # position in the current input
        self.total = 0  # characters consumed so far
        self.width = 0
        self.delim = DEFAULT_DELIMITER
        self.comments: list[str] = []
        self._space_run = (-1, -1)  # text[a:b] is white space, text[b] is not (see _may_begin)

    # -- set up -------------------------------------------------------------------------------

    def init(self) -> None:
        """Read a leading ``-- atlas:delimiter`` directive, as Atlas does before scanning."""
        end = self.text.find("\n", self.origin)
        first = self.text[self.origin : end if end != -1 else len(self.text)]
        d = directive(first, "delimiter", "-- ")
        if d is None:
            return
        self.set_delim(d)
        if end == -1:
            raise self.error(self.pos, f"no input found after delimiter {go_quote(d)}")
        self.start = end + 1

    def set_delim(self, d: str) -> None:
        """Use ``d`` (with ``\\n``, ``\\r``, ``\\t`` escapes expanded) as the delimiter."""
        if d == "":
            raise ScanError(0, 0, "empty delimiter")
        self.delim = d.replace("\\n", "\n").replace("\\r", "\r").replace("\\t", "\t")

    def scan(self) -> list[Statement]:
        """Every statement of the input."""
        self.init()
        stmts: list[Statement] = []
        while True:
            stmt = self.stmt()
            if stmt is None:
                return stmts
            stmts.append(stmt)

    # -- primitives ---------------------------------------------------------------------------

    def _input_len(self) -> int:
        return len(self.text) - self.start

    def _at(self, i: int) -> str:
        return self.text[self.start + i]

    def next(self) -> str | None:
        """Consume and return the next character (None at the end)."""
        if self.start + self.pos >= len(self.text):
            return None
        ch = self.text[self.start + self.pos]
        self.width = 1
        self.pos += 1
        self.total += 1
        return ch

    def pick(self) -> str | None:
        """The next character without consuming it."""
        i = self.start + self.pos
        return self.text[i] if i < len(self.text) else None

    def add_pos(self, n: int) -> None:
        """Advance by ``n`` characters."""
        self.pos += n
        self.total += n

    def skip_spaces(self) -> None:
        """Drop leading white space of the input."""
        i = self.start
        n = len(self.text)
        while i < n and self.text[i].isspace():
            i += 1
        self.total += i - self.start
        self.start = i

    def _may_begin(self, i: int) -> bool:
        """Whether ``BEGIN`` may follow the white space at ``i`` (the BEGIN patterns start with
        ``\\s*``: trying them at each character of a long run of spaces was quadratic)."""
        a, b = self._space_run
        if not a <= i <= b:
            b = i
            while b < len(self.text) and self.text[b] in _SPACES:
                b += 1
            self._space_run = (i, b)
        return self.text[b : b + 1] in ("B", "b")

    def error(self, pos: int, message: str) -> ScanError:
        """A :class:`ScanError` at ``pos`` of the current input, as ``line:column``."""
        p = self.start - self.origin + pos
        src = self.text[self.origin : self.origin + p]
        line = 1 + src.count("\n")
        last = src.rfind("\n")
        column = len(src[last + 1 :].encode("utf-8", "surrogatepass"))
        return ScanError(line, column, message)

    # -- statements ---------------------------------------------------------------------------

    def stmt(self) -> Statement | None:
        """The next statement, or None when only white space and comments remain."""
        depth = 0
        opening = 0
        text = ""
        opts = self.options
        self.skip_spaces()
        while True:
            r = self.next()
            here = self.start + self.pos - 1  # absolute index of r
            if r is None:
                if depth > 0:
                    raise self.error(opening, "unclosed '('")
                if self.pos > 0:
                    text = self.text[self.start :]
                    break
                return None
            if r == "(":
                if depth == 0:
                    opening = self.pos
                depth += 1
            elif r == ")":
                if depth == 0:
                    raise self.error(self.pos, "unexpected ')'")
                depth -= 1
            elif r in "'\"`":
                self.skip_quote(r)
            elif (
                self.pos == 1
                and self._input_len() > len(_DELIMITER_CMD)
                and self.text[self.start : self.start + len(_DELIMITER_CMD)].lower()
                == _DELIMITER_CMD
            ):
                self.add_pos(len(_DELIMITER_CMD) - 1)
                self.delim_cmd()
                self.skip_spaces()
            elif depth == 0 and self.text.startswith(self.delim, here):
                self.add_pos(len(self.delim) - self.width)
                text = self.text[self.start : self.start + self.pos]
                break
            elif (
                opts.match_dollar_quote
                and r == "$"
                and _DOLLAR_QUOTE.match(self.text, here)
                and not (self.pos > 1 and _continues_name(self._at(self.pos - 2)))
            ):
                self.skip_dollar_quote()
            elif r == "#" and opts.hash_comments:
                self.comment("#", "\n")
            elif r == "-" and self.pick() == "-":
                self.next()
                self.comment("--", "\n")
            elif r == "/" and self.pick() == "*":
                self.next()
                self.comment("/*", "*/")
            elif (
                self.delim == DEFAULT_DELIMITER
                and opts.match_begin_atomic
                and self._may_begin(here)
                and _BEGIN_ATOMIC.match(self.text, here)
            ):
                if self.skip_block(_BEGIN_ATOMIC, atomic=True):
                    text = self.text[self.start : self.start + self.pos]
                    break
            elif (  # noqa: SIM102 (a failed block must not fall through to the next case)
                self.delim == DEFAULT_DELIMITER
                and opts.match_begin
                and (
                    (self.pos == 1 and self._may_begin(here) and _BEGIN.match(self.text, here))
                    or (
                        self.pos > 1
                        and self._may_begin(here - 1)
                        and _BEGIN.match(self.text, here - 1)
                    )
                )
            ):
                if self.skip_block(_BEGIN, atomic=False):
                    text = self.text[self.start : self.start + self.pos]
                    break
        return self.emit(text)

    def skip_quote(self, quote: str) -> None:
        """Consume a quoted string or identifier (``''`` closes and reopens).

        With ``escaped_string_ext``, a ``'`` right after an ``E``/``e`` that starts a token opens
        a PostgreSQL escape string: a backslash escapes the next character, and a doubled quote
        or a continuation on the next line (``E'a' <newline> 'b'``) stays in that string.
        """
        pos = self.pos
        escaped = self.options.backslash_escapes or self._escape_string(quote)
        while True:
            r = self.next()
            if r is None:
                raise self.error(pos, f"unclosed quote {_go_rune(quote)}")
            if r == "\\" and escaped:
                self.next()
            elif r == quote:
                if not escaped or self.options.backslash_escapes:
                    return
                cont = _QUOTE_CONTINUE.match(self.text, self.start + self.pos)
                if self.pick() == quote:
                    self.next()
                elif cont is not None:
                    self.add_pos(len(cont.group(0)))
                else:
                    return
                pos = self.pos  # an unclosed rest is reported where Atlas reopens it

    def _escape_string(self, quote: str) -> bool:
        """Whether the quote just read opens an ``E'...'`` string (the E not ending a name)."""
        if quote != "'" or not self.options.escaped_string_ext or self.pos < 2:
            return False
        if self._at(self.pos - 2) not in "Ee":
            return False
        if self.pos == 2:
            return True  # the E opens the statement
        # PostgreSQL's identifiers continue with [A-Za-z0-9_$] and any non-ASCII character.
        before = self._at(self.pos - 3)
        return before.isascii() and not (before.isalnum() or before in "_$")

    def skip_dollar_quote(self) -> None:
        """Consume a ``$tag$ ... $tag$`` string; an unclosed one runs to the end of input."""
        here = self.start + self.pos - 1
        m = _DOLLAR_QUOTE.match(self.text, here)
        if m is None:
            raise self.error(self.pos, "unexpected dollar quote")
        tag = m.group(0)
        self.add_pos(len(tag) - 1)
        while True:
            r = self.next()
            if r is None:
                return  # Atlas fails only without a delimiter, which cannot happen here.
            if r == "$" and self.text.startswith(tag, self.start + self.pos - 1):
                self.add_pos(len(tag) - 1)
                return

    def skip_block(self, opener: re.Pattern[str], *, atomic: bool) -> bool:
        """Consume a ``BEGIN [ATOMIC] ... END`` body; False (position kept) if it is not one."""
        here = self.start + self.pos - 1
        m = opener.match(self.text, here)
        if m is None:
            return False
        self.add_pos(len(m.group(0)) - 1)
        body = Scanner(self.text, self.start + self.pos, self.options)
        try:
            body.init()
            while True:
                stmt = body.stmt()
                if stmt is None:
                    return False
                end = _END.match(stmt.text)
                if end is None:
                    continue
                if atomic:
                    break
                matched = end.group(0)
                if len(matched) == len(stmt.text) or stmt.text[len(matched) :] == self.delim:
                    break
        except ScanError:
            return False
        self.add_pos(body.total)
        return True

    def comment(self, left: str, right: str) -> None:
        """Consume a comment; one that opens a statement goes to the statement's comments.

        ``/* ... */`` comments nest, as in PostgreSQL (Atlas ends them at the first ``*/``,
        so the rest went to PostgreSQL as SQL and failed); one whose nesting never closes ends
        at the first ``*/``, as in Atlas (PostgreSQL refuses it either way).
        """
        i = self.text.find(right, self.start + self.pos)
        if left == "/*" and i != -1:
            i = _nested_comment_end(self.text, self.start + self.pos, i)
        if i == -1:
            return  # not a comment: its text stays part of the statement
        i -= self.start + self.pos
        if self.pos != len(left):
            self.add_pos(i + len(right))
            return
        self.add_pos(i + len(right))
        self.comments.append(self.text[self.start : self.start + self.pos])
        self.start += self.pos
        self.pos = 0
        # A blank line detaches the comments from the statement that follows.
        if self.text.startswith("\n\n", self.start) or (
            right == "\n" and self.text.startswith("\n", self.start)
        ):
            self.comments = []
        self.skip_spaces()

    def delim_cmd(self) -> None:
        """Handle a MySQL-style ``DELIMITER x`` line (Atlas's generic scanner does, for PG too)."""
        if self.pick() != " ":
            return
        r = self.pick()
        while r is not None and r != "\n":
            r = self.next()
        delim = self.text[self.start + len(_DELIMITER_CMD) : self.start + self.pos].strip()
        if len(delim) >= 2 and delim.startswith("'") and delim.endswith("'"):
            delim = delim[1:-1].replace("''", "'")
        self.set_delim(delim)
        self.emit(self.text[self.start : self.start + self.pos])

    def emit(self, text: str) -> Statement:
        """Close the current statement: trim it, strip a custom delimiter, reset the state."""
        stmt_pos = self.total - len(text)
        comments = self.comments
        self.start += self.pos
        self.pos = 0
        self.comments = []
        if self.delim != DEFAULT_DELIMITER:
            text = text.removesuffix(self.delim)
        return Statement(text.strip(), stmt_pos, comments)


def split_statements(content: str, options: ScanOptions | None = None) -> list[Statement]:
    """The statements of a migration file's text (raises :class:`ScanError`)."""
    return Scanner(content, 0, options).scan()


def statement_texts(content: str) -> list[str]:
    """Just the statement texts, as they are sent to PostgreSQL and hashed."""
    return [s.text for s in split_statements(content)]


def _continues_name(ch: str) -> bool:
    """Whether ``ch`` makes a following ``$`` part of a PostgreSQL name (``price$usd$x``)."""
    return not ch.isascii() or ch.isalnum() or ch == "_"


def _nested_comment_end(text: str, i: int, first: int) -> int:
    """Where the ``*/`` closing a ``/*`` comment whose body starts at ``i`` lies, counting
    nested ``/* */`` pairs; ``first`` (the first ``*/``) when the nesting never closes."""
    depth = 1
    close = first
    while close != -1:
        opening = text.find("/*", i, close)
        if opening != -1:
            depth += 1
            i = opening + 2
            continue
        depth -= 1
        if depth == 0:
            return close
        i = close + 2
        close = text.find("*/", i)
    return first


def _go_rune(ch: str) -> str:
    return "'\\''" if ch == "'" else f"'{ch}'"
