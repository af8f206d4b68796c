"""Turn spec text into logical lines of tokens, each token with its line and column.

Indentation is significant (spaces only). Brackets continue a logical line across
physical lines, as in Python. ``3x224x224`` is one DIMS token, so shapes and
asymmetric sizes (``k=3x5``) read naturally.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import SpecLimitError, SpecSyntaxError
from .source import Source, Span
from .limits import MAX_INT, MAX_LINE_CHARS, MAX_STATEMENTS


_TOKEN = re.compile(
    r"""
    [ \t]*  # spaces before the token (so that one match per token scans a whole line in C)
    # [0-9], never \d: the language is ASCII, and \d (like int()) takes any Unicode digit (٣, ８)
    (?:
      (?P<DIMS>[0-9]+(?:x[0-9]+)+(?![A-Za-z0-9_.]))
    | (?P<FLOAT>[0-9][0-9_]*\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9][0-9_]*[eE][+-]?[0-9]+)
    | (?P<INT>[0-9][0-9_]*)
    | (?P<PATH>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+)
    | (?P<NAME>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<STRING>'[^'\n]*'|"[^"\n]*")
    | (?P<OP>\*\*|//|==|!=|<=|>=|[=(),:+\-*/%\[\]<>])
    | (?P<COMMENT>\#.*)
    | (?P<BAD>[^ \t])
    )
    """,
    re.VERBOSE,
)


class Token(NamedTuple):
    kind: str  # NAME PATH INT FLOAT DIMS STRING OP (PATH: a dotted row path, `encoder.shared`)
    text: str
    span: Span
    space_before: bool = True

    @property
    def value(self):
        if self.kind == "INT":
            return _integer(self.text.replace("_", ""), self.span)
        if self.kind == "FLOAT":
            return float(self.text.replace("_", ""))
        if self.kind == "DIMS":
            return tuple(_integer(part, self.span) for part in self.text.split("x"))
        if self.kind == "STRING":
            return self.text[1:-1]
        return self.text

    def is_op(self, *ops: str) -> bool:
        return self.kind == "OP" and self.text in ops

    def is_name(self, *names: str) -> bool:
        return self.kind == "NAME" and (not names or self.text.lower() in names)


def _integer(digits: str, span: Span) -> int:
    """An integer literal. Past 19 significant digits it is over 2**63 - 1 anyway: refused here,
    before int() (which raises a ValueError from 4,301 digits on, and is quadratic before)."""
    digits = digits.lstrip("0") or "0"
    significant = len(digits)
    if significant > 19:
        raise SpecLimitError(
            "integer too large",
            span,
            expected=f"a value of at most {MAX_INT:,} (2**63 - 1)",
            found=f"a number of {significant:,} digits",
            code="E0503",
        )
    return int(digits)


class LogicalLine(NamedTuple):
    indent: int
    tokens: tuple[Token, ...]
    line: int  # first physical line

    @property
    def span(self) -> Span:
        return Span(self.line, self.indent + 1, 1)


_OPEN = {"(": ")", "[": "]"}


def tokenize(source: Source) -> list[LogicalLine]:
    """Split the source into logical lines of tokens, checking indentation characters."""
    result: list[LogicalLine] = []
    pending: list[Token] = []
    pending_indent = 0
    pending_line = 0
    depth: list[Token] = []
    for lineno, raw in enumerate(source.lines, start=1):
        text = raw.rstrip("\r")
        if len(text) > MAX_LINE_CHARS:
            raise SpecLimitError(
                f"line {lineno} is too long ({len(text):,} characters)",
                Span(lineno, 1),
                expected=f"at most {MAX_LINE_CHARS:,} characters per line",
                code="E0509",
            ).with_source(source)
        pos = 0
        if not depth:
            while pos < len(text) and text[pos] == " ":
                pos += 1
            if pos < len(text) and text[pos] == "\t":
                raise SpecSyntaxError(
                    "tab used for indentation",
                    Span(lineno, pos + 1),
                    expected="spaces",
                    found="a tab character",
                    hint="indent with spaces only (4 per level is usual)",
                    code="E0101",
                ).with_source(source)
            pending_indent = pos
            pending_line = lineno
        line_tokens = _scan(source, text, lineno, pos, depth)
        pending.extend(line_tokens)
        if not depth and pending:
            result.append(LogicalLine(pending_indent, tuple(pending), pending_line))
            pending = []
            if len(result) > MAX_STATEMENTS:
                raise SpecLimitError(
                    f"the spec has more than {MAX_STATEMENTS:,} statements",
                    Span(pending_line, pending_indent + 1),
                    expected=f"at most {MAX_STATEMENTS:,} statements (the analysis also stops at {MAX_STATEMENTS:,} rows)",
                    found=f"statement {MAX_STATEMENTS + 1:,} on line {pending_line:,}",
                    hint="fold repeated layers into a `repeat` or a `def`, or split the spec",
                    code="E0507",
                ).with_source(source)
    if depth:
        opener = depth[-1]
        raise SpecSyntaxError(
            f"'{opener.text}' is never closed",
            opener.span,
            expected=f"a matching '{_OPEN[opener.text]}'",
            found="end of file",
            code="E0102",
        ).with_source(source)
    return result


def _scan(source: Source, text: str, lineno: int, pos: int, depth: list[Token]) -> list[Token]:
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text, pos):  # every character matches something: no gaps
        kind = match.lastgroup
        start = match.start(kind)
        if kind == "COMMENT":
            break
        if kind == "BAD":
            raise _bad_character(source, text, lineno, start)
        token = Token(kind, match.group(kind), Span(lineno, start + 1, match.end() - start), not tokens or start > match.start())
        if kind == "OP":
            if token.text in _OPEN:
                depth.append(token)
            elif token.text in (")", "]"):
                if not depth or _OPEN[depth[-1].text] != token.text:
                    raise SpecSyntaxError(
                        f"unmatched '{token.text}'",
                        token.span,
                        expected="an expression or the end of the line",
                        found=f"'{token.text}'",
                        code="E0102",
                    ).with_source(source)
                depth.pop()
        tokens.append(token)
    return tokens


def _bad_character(source: Source, text: str, lineno: int, pos: int) -> SpecSyntaxError:
    ch = text[pos]
    if ch in "'\"":
        return SpecSyntaxError(
            "string is never closed",
            Span(lineno, pos + 1),
            expected=f"a closing {ch} on the same line",
            found="end of line",
            code="E0103",
        ).with_source(source)
    shown = repr(ch) if ch.isprintable() else f"U+{ord(ch):04X}"
    hint = None
    if ch in "{};!@$&|^~`\\":
        hint = "specs use `KIND args key=value`, blocks end with ':' and nest by indentation"
    if ch.isalpha() or ch.isdigit():  # a non-ASCII letter or digit
        hint = "names use ASCII letters, digits and '_'"
    return SpecSyntaxError(
        f"unexpected character {shown}",
        Span(lineno, pos + 1),
        expected="a name, number, string, shape such as 3x224x224, or one of = ( ) [ ] , : + - * / // % ** == != < <= > >=",
        found=shown,
        hint=hint,
        code="E0104",
    ).with_source(source)
