"""Parse logical lines into the syntax tree (`syntax.Spec`).

Layer arguments are separated by spaces, so an argument is an expression whose binary
``+``/``-`` continues only when the operator is not written like a sign: ``d * 4`` and
``d*4`` are one argument, ``0 2 -1`` are three. Inside brackets, spaces do not matter.
"""

from __future__ import annotations

from .errors import NNShapeError, SpecLimitError, SpecSyntaxError
from .lexer import LogicalLine, Token, tokenize
from .source import Source, Span
from .syntax import (
    BLOCK_KEYWORDS,
    RESERVED_NAMES,
    COMPARISONS,
    FUNCTIONS,
    Argument,
    Binary,
    Block,
    BoolOp,
    Compare,
    Const,
    Def,
    Dims,
    Expr,
    FuncCall,
    If,
    IfBranch,
    Input,
    Layer,
    Let,
    Name,
    Output,
    Param,
    SliceExpr,
    Spec,
    Statement,
    Subscript,
    TupleExpr,
    Unary,
    expr_text,
)
from .limits import MAX_NESTING, MAX_EXPR_DEPTH

_LITERALS = {"true": True, "false": False, "none": None}


def parse(source: Source) -> Spec:
    """Parse a whole spec. Raises SpecSyntaxError (with the source attached) on bad input."""
    lines = tokenize(source)
    try:
        statements, index = _Parser(source, lines).block(0, 0, 0)
    except NNShapeError as err:
        raise err.with_source(source) from None
    return Spec(tuple(statements))


def parse_expression(source: Source) -> Expr | None:
    """The one expression of a short text outside a spec (a ``--set`` value, a shape given on the
    command line), read with the spec's own grammar: None when the text is not exactly one line
    (the caller says what it wanted); a located NNShapeError when the line is no expression."""
    lines = tokenize(source)
    if len(lines) != 1:
        return None
    stream = _Stream(list(lines[0].tokens), lines[0])
    expr = stream.free_expr()
    stream.expect_end()
    return expr

# hints for habits from other tools (issue 17)
SHAPE_FORMS = (
    "write the shape as one word, `input 3x224x224`, or as a tuple, `input (3, 224, 224)`; "
    "sizes are per sample (the batch comes from --batch)"
)
def input_hint(found: str) -> str | None:
    """What an `input` line with a stray positional word meant: a dtype, or a shape in pieces."""
    from .tensor import normalize_dtype

    if found and normalize_dtype(found) is not None:
        return f"the dtype is a key: `dtype={found}`"
    if found.lower() in ("x", ",", "*", "×") or found[:1].isdigit() or found[:1] in "([":
        return SHAPE_FORMS
    return None


CALL_FORMS = (
    "a layer's arguments follow its kind, separated by spaces, not inside a call's brackets: "
    "`conv2d 16 3 stride=2` (see `nnshape layers KIND`); brackets hold a tuple, e.g. `k=(3, 5)`"
)


class _Parser:
    def __init__(self, source: Source, lines: list[LogicalLine]):
        self.source = source
        self.lines = lines

    # ------------------------------------------------------------------ layout
    def block(self, index: int, indent: int, depth: int) -> tuple[list[Statement], int]:
        if depth > MAX_NESTING:
            raise SpecLimitError(
                f"blocks are nested more than {MAX_NESTING} levels deep",
                self.lines[index].span,
                hint="flatten the structure or use `def` and `repeat`",
                code="E0501",
            )
        statements: list[Statement] = []
        while index < len(self.lines):
            line = self.lines[index]
            if line.indent < indent:
                break
            if line.indent > indent:
                raise SpecSyntaxError(
                    "unexpected indent",
                    Span(line.line, 1, line.indent),
                    expected=f"{indent} spaces of indentation",
                    found=f"{line.indent} spaces",
                    hint="only the body of a block (a line ending with ':') is indented",
                    code="E0105",
                )
            statement, index = self.statement(index, depth)
            statements.append(statement)
        return statements, index

    def body(self, header: LogicalLine, index: int, depth: int, what: str) -> tuple[list[Statement], int]:
        if index >= len(self.lines) or self.lines[index].indent <= header.indent:
            found = "end of file" if index >= len(self.lines) else f"'{self.lines[index].tokens[0].text}' at the same indentation"
            raise SpecSyntaxError(
                f"expected an indented block after '{what}:'",
                header.tokens[-1].span,
                expected="the block's statements on the following lines, indented further",
                found=found,
                code="E0106",
            )
        indent = self.lines[index].indent
        statements, index = self.block(index, indent, depth + 1)
        if index < len(self.lines):
            nxt = self.lines[index]
            if header.indent < nxt.indent < indent:
                raise SpecSyntaxError(
                    "unindent does not match any outer indentation level",
                    Span(nxt.line, 1, nxt.indent),
                    expected=f"{header.indent} or {indent} spaces",
                    found=f"{nxt.indent} spaces",
                    code="E0107",
                )
        return statements, index

    # ------------------------------------------------------------------ statements
    def statement(self, index: int, depth: int) -> tuple[Statement, int]:
        line = self.lines[index]
        tokens = list(line.tokens)
        first = tokens[0]
        if first.kind != "NAME":
            raise SpecSyntaxError(
                "a statement must start with a layer kind or a keyword",
                first.span,
                expected="a layer kind (conv2d, linear, ...) or input, let, def, residual, repeat, ...",
                found=f"'{first.text}'",
                code="E0110",
            )
        colon = next((i for i, tok in enumerate(tokens) if tok.is_op(":") and _top_level(tokens, i)), None)
        word = first.text.lower()
        if colon == 1 and len(tokens) > 2 and word not in BLOCK_KEYWORDS and word != "def":
            return self.labelled(line, index, depth), index + 1
        if word == "def":
            return self.definition(line, index, depth, colon)
        if word in ("if", "elif", "else") and not (len(tokens) > 1 and tokens[1].is_op("=")):
            return self.conditional(line, index, depth, colon)
        if word == "from" and colon is None:
            return self.from_line(line), index + 1
        if colon is not None:
            return self.block_statement(line, index, depth, colon)
        if word in BLOCK_KEYWORDS and not (len(tokens) > 1 and tokens[1].is_op("=")):
            raise SpecSyntaxError(
                f"'{word}' starts a block and needs a ':'",
                tokens[-1].span,
                expected=f"'{first.text} ...:' followed by an indented body",
                found="end of line",
                hint=f"write `{' '.join(t.text for t in tokens)}:`",
                code="E0111",
            )
        stream = _Stream(tokens[1:], line)
        if word == "input":
            return self.input(first, stream), index + 1
        if word == "let":
            return self.let(first, stream), index + 1
        if word == "output":
            names = []
            while not stream.done:
                tok = stream.expect_name("a tensor name")
                names.append(Name(tok.text, tok.span))
                if not stream.done and stream.peek().is_op(","):  # `output logits, hidden`
                    stream.next()
                    if stream.done:
                        raise stream.error("a tensor name after ','", "output NAME, NAME")
            if not names:
                raise stream.error("the name of the tensor to output", "output NAME")
            return Output(tuple(names), first.span), index + 1
        tokens, alias = _split_alias(tokens[1:], line)
        stream = _Stream(tokens, line)
        if alias is not None:
            return Layer(first.text.lower(), self.arguments(stream), first.span, alias.text, alias.span), index + 1
        return Layer(first.text.lower(), self.arguments(stream), first.span), index + 1

    def labelled(self, line: LogicalLine, index: int, depth: int) -> Layer:
        """``NAME: kind args``: a layer line (or def call) whose row is named NAME, as ``name=NAME``
        names it; ``tie=``/``reuse`` find it by that name. Any word but a block keyword may be a
        label, a kind's name included (``relu: relu``)."""
        label, _colon, *rest = line.tokens
        inline = LogicalLine(rest[0].span.col - 1, tuple(rest), line.line)
        statement, _ = _Parser(self.source, [inline]).statement(0, depth)
        if not isinstance(statement, Layer) or statement.kind == "def":
            raise SpecSyntaxError(
                "a label names a layer line or a def call",
                rest[0].span,
                expected=f"`{label.text}: KIND args...` (a layer or a call of a def)",
                found=f"'{rest[0].text}'",
                hint="a block is named with `block NAME:`; a tensor with `as NAME`",
                code="E0170",
            )
        named = next((arg for arg in statement.args if arg.key == "name"), None)
        if named is not None:
            raise SpecSyntaxError(
                "the row is named twice: by a label and by name=",
                named.span,
                expected=f"either `{label.text}: ...` or `name=...`",
                found=f"label '{label.text}' and name={expr_text(named.value)}",
                code="E0170",
            )
        arg = Argument("name", Name(label.text, label.span), label.span, label.span)
        return statement._replace(args=(arg,) + statement.args)
    def from_line(self, line: LogicalLine) -> Block:
        """``from NAME [as ALIAS]`` on one line: the named tensor becomes the current one."""
        first = line.tokens[0]
        header = _Stream(list(line.tokens[1:]), line)
        name, alias = self.from_header(header)
        span = Span(first.span.line, first.span.col, len(first.text))
        return Block("from", (), (), span, name.text, name.span, alias.text if alias else None, alias.span if alias else None)

    def from_header(self, header: "_Stream") -> tuple[Token, Token | None]:
        tok = header.expect_name("the name of an input or stored tensor")
        alias = None
        if not header.done:
            kw = header.next()
            if not kw.is_name("as"):
                raise SpecSyntaxError(
                    f"unexpected '{kw.text}'",
                    kw.span,
                    expected="'as NAME', ':' or the end of the line",
                    found=f"'{kw.text}'",
                    code="E0114",
                )
            alias = header.expect_name("the name to store the result under")
        header.expect_end()
        return tok, alias

    def conditional(self, line: LogicalLine, index: int, depth: int, colon: int | None) -> tuple[Statement, int]:
        """``if C:`` and the ``elif C:`` / ``else:`` lines that follow it at its indentation."""
        first = line.tokens[0]
        if first.text.lower() != "if":
            raise SpecSyntaxError(
                f"`{first.text.lower()}:` without an `if:` before it",
                first.span,
                expected="`if CONDITION:` directly before, at the same indentation",
                hint="an `elif`/`else` follows the body of an `if` (or of an `elif`) at the `if`'s indentation",
                code="E0150",
            )
        branches: list[IfBranch] = []
        indent = line.indent
        while True:
            tokens = list(line.tokens)
            word = tokens[0].text.lower()
            if colon is None:
                raise SpecSyntaxError(
                    f"'{word}' starts a block and needs a ':'",
                    tokens[-1].span,
                    expected=f"'{word} CONDITION:' followed by an indented body" if word != "else" else "'else:'",
                    found="end of line",
                    code="E0111",
                )
            header = _Stream(tokens[1:colon], line)
            condition = None
            if word == "else":
                header.expect_end()
            else:
                if header.done:
                    raise header.error("a condition, e.g. `stride == 1 and c_in == c_out`", f"{word} CONDITION:")
                condition = header.free_expr()
                header.expect_end()
            body, index = self.header_body(line, index, depth, colon, word)
            span = Span(tokens[0].span.line, tokens[0].span.col, len(tokens[0].text))
            branches.append(IfBranch(word, condition, tuple(body), span))
            if word == "else" or index >= len(self.lines):
                break
            nxt = self.lines[index]
            nword = nxt.tokens[0].text.lower() if nxt.tokens[0].kind == "NAME" else None
            if nxt.indent != indent or nword not in ("elif", "else") or (len(nxt.tokens) > 1 and nxt.tokens[1].is_op("=")):
                break
            line = nxt
            colon = next((i for i, tok in enumerate(nxt.tokens) if tok.is_op(":") and _top_level(list(nxt.tokens), i)), None)
        return If(tuple(branches), branches[0].span), index

    def header_body(self, line: LogicalLine, index: int, depth: int, colon: int, word: str) -> tuple[list[Statement], int]:
        """The body of a header line ending at ``colon``: one statement after the ':' on the same
        line, or the indented lines below it. Returns the body and the next line's index."""
        tokens = list(line.tokens)
        rest = tokens[colon + 1:]
        if not rest:
            return self.body(line, index + 1, depth, word)
        inline = LogicalLine(rest[0].span.col - 1, tuple(rest), line.line)
        if rest[0].is_name(*BLOCK_KEYWORDS) and any(t.is_op(":") for t in rest):
            raise SpecSyntaxError(
                "only a single layer may follow ':' on the same line",
                rest[0].span,
                expected="the nested block on its own, indented line",
                code="E0115",
            )
        sub = _Parser(self.source, [inline])
        statement, _ = sub.statement(0, depth + 1)
        index += 1
        if index < len(self.lines) and self.lines[index].indent > line.indent:
            raise SpecSyntaxError(
                "unexpected indent",
                Span(self.lines[index].line, 1, self.lines[index].indent),
                expected="no indented body after an inline one",
                hint=f"put the first statement of '{word}:' on its own line too",
                code="E0105",
            )
        return [statement], index

    def input(self, first: Token, stream: _Stream) -> Input:
        name = None
        toks = stream.tokens
        if len(toks) >= 2 and toks[0].kind == "NAME" and not toks[1].is_op("=") and toks[0].text.lower() not in _LITERALS:
            name = stream.next().text
        if stream.done or (stream.peek().kind == "NAME" and stream.peek_is_op(1, "=")):
            raise stream.error("the input's shape, e.g. 3x224x224 or (L, 768)", "input [NAME] SHAPE [dtype=...]")
        shape = stream.argument_expr()
        try:
            args = self.arguments(stream, keywords_only=True)
        except SpecSyntaxError as err:
            if err.code == "E0112" and err.hint is None:  # `input 3 x 224 x 224`, `input 3,224,224`
                err.hint = input_hint((err.found or "").strip("'"))
            raise
        return Input(name, shape, args, first.span)

    def let(self, first: Token, stream: _Stream) -> Let:
        name = stream.expect_name("a constant name")
        if stream.done or not stream.peek().is_op("="):
            raise stream.error("'=' after the name", "let NAME = EXPRESSION")
        stream.next()
        if stream.done:
            raise stream.error("an expression", "let NAME = EXPRESSION")
        value = stream.free_expr()
        stream.expect_end()
        return Let(name.text, value, first.span)

    def arguments(self, stream: _Stream, keywords_only: bool = False) -> tuple[Argument, ...]:
        args: list[Argument] = []
        while not stream.done:
            tok = stream.peek()
            if tok.kind == "NAME" and stream.peek_is_op(1, "="):
                stream.next()
                stream.next()
                if stream.done:
                    raise stream.error(f"a value for '{tok.text}'", f"{tok.text}=VALUE")
                value = stream.argument_expr()
                args.append(Argument(tok.text.lower(), value, tok.span, tok.span))
            else:
                if tok.is_name("as") and tok.kind == "NAME":
                    raise SpecSyntaxError(
                        "`as NAME` comes last on the line",
                        tok.span,
                        expected="the layer's arguments, then `as NAME` at the end",
                        found=f"'as' followed by {len(stream.tokens) - stream.pos - 1} more token(s)",
                        hint="move `as NAME` to the end of the line",
                        code="E0151",
                    )
                if keywords_only:
                    raise SpecSyntaxError(
                        "unexpected positional argument",
                        tok.span,
                        expected="key=value arguments (e.g. dtype=int64)",
                        found=f"'{tok.text}'",
                        code="E0112",
                    )
                if tok.is_op("="):
                    raise SpecSyntaxError(
                        "unexpected '='",
                        tok.span,
                        expected="key=value with a name as the key",
                        found="'='",
                        code="E0112",
                    )
                value = stream.argument_expr()
                args.append(Argument(None, value, tok.span))
        return tuple(args)

    def block_statement(self, line: LogicalLine, index: int, depth: int, colon: int) -> tuple[Statement, int]:
        tokens = list(line.tokens)
        first = tokens[0]
        word = first.text.lower()
        if word not in BLOCK_KEYWORDS:
            from .suggest import did_you_mean

            raise SpecSyntaxError(
                f"'{first.text}' is not a block keyword",
                first.span,
                expected="one of " + ", ".join(f"{kw}:" for kw in BLOCK_KEYWORDS) + " or def NAME(...):",
                found=f"'{first.text} ...:'",
                hint=did_you_mean(word, BLOCK_KEYWORDS + ("def",))
                or "layers take no ':'; remove it, or indent the lines under a block keyword",
                code="E0113",
            )
        header = _Stream(tokens[1:colon], line)
        name = alias = None
        name_span = alias_span = None
        args: tuple[Argument, ...] = ()
        if word == "block":
            tok = header.expect_name("the block's name")
            name, name_span = tok.text, tok.span
            header.expect_end()
        elif word == "from":
            tok, alias_tok = self.from_header(header)
            name, name_span = tok.text, tok.span
            if alias_tok is not None:
                alias, alias_span = alias_tok.text, alias_tok.span
        else:
            header_tokens, alias_tok = _split_alias(tokens[1:colon], line)
            if alias_tok is not None:
                if word != "repeat":
                    raise SpecSyntaxError(
                        f"`{word}:` takes no `as NAME`",
                        alias_tok.span,
                        expected=f"`{word}:` alone; `as NAME` names a layer's output, or a repeat's index (`repeat N as i:`)",
                        found=f"as {alias_tok.text}",
                        hint=f"store the block's output with a line after it: `identity as {alias_tok.text}`",
                        code="E0151",
                    )
                alias, alias_span = alias_tok.text, alias_tok.span
            args = self.arguments(_Stream(header_tokens, line))
        body, index = self.header_body(line, index, depth, colon, word)
        span = Span(first.span.line, first.span.col, len(first.text))
        return Block(word, args, tuple(body), span, name, name_span, alias, alias_span), index

    def definition(self, line: LogicalLine, index: int, depth: int, colon: int | None) -> tuple[Statement, int]:
        tokens = list(line.tokens)
        stream = _Stream(tokens[1:colon] if colon is not None else tokens[1:], line)
        name = stream.expect_name("the def's name")
        if name.text.lower() in RESERVED_NAMES:
            raise SpecSyntaxError(
                f"'{name.text}' is a keyword and cannot be a def's name",
                name.span,
                expected="a name that is not a keyword (" + ", ".join(RESERVED_NAMES) + ")",
                hint=f"a line starting with `{name.text}` is read as the keyword, so the def could never be called; "
                f"rename it, e.g. `{name.text.lower()}_unit`",
                code="E0131",
            )
        if stream.done or not stream.peek().is_op("("):
            raise stream.error("'(' and the parameter list, e.g. def block(ch, stride=1):", "def NAME(PARAMS):")
        stream.next()
        params: list[Param] = []
        seen: set[str] = set()
        while True:
            if stream.done:
                raise stream.error("')'", "def NAME(PARAMS):")
            if stream.peek().is_op(")"):
                stream.next()
                break
            ptok = stream.expect_name("a parameter name")
            if ptok.text.lower() in RESERVED_NAMES:
                raise SpecSyntaxError(f"'{ptok.text}' is a keyword and cannot be a parameter's name", ptok.span, code="E0131")
            if ptok.text in seen:
                raise SpecSyntaxError(f"parameter '{ptok.text}' is listed twice", ptok.span, code="E0116")
            seen.add(ptok.text)
            default = None
            if not stream.done and stream.peek().is_op("="):
                stream.next()
                default = stream.free_expr()
            elif any(p.default is not None for p in params):
                raise SpecSyntaxError(
                    f"parameter '{ptok.text}' without a default follows one with a default",
                    ptok.span,
                    hint="put parameters with defaults last, as in Python",
                    code="E0116",
                )
            params.append(Param(ptok.text, default, ptok.span))
            if not stream.done and stream.peek().is_op(","):
                stream.next()
        stream.expect_end()
        if colon is None:
            raise SpecSyntaxError(
                "'def' needs a ':' and an indented body",
                tokens[-1].span,
                expected=f"def {name.text}(...):",
                found="end of line",
                code="E0111",
            )
        if colon != len(tokens) - 1:
            raise SpecSyntaxError(
                "a def's body goes on the following, indented lines",
                tokens[colon + 1].span,
                code="E0115",
            )
        body, index = self.body(line, index + 1, depth, f"def {name.text}(...)")
        return Def(name.text.lower(), tuple(params), tuple(body), name.span), index


def _split_alias(tokens: list[Token], line: LogicalLine) -> tuple[list[Token], Token | None]:
    """A line's tokens without a trailing ``as NAME``, and the NAME token (None without one)."""
    if len(tokens) >= 2 and tokens[-2].is_name("as") and tokens[-1].kind == "NAME" and not (len(tokens) >= 3 and tokens[-3].is_op("=")):
        return tokens[:-2], tokens[-1]
    if tokens and tokens[-1].is_name("as") and not (len(tokens) >= 2 and tokens[-2].is_op("=")):
        tok = tokens[-1]
        raise SpecSyntaxError(
            "expected a name after 'as'",
            Span(tok.span.line, tok.span.col + tok.span.length, 1),
            expected="as NAME (the name to store the output under)",
            found="end of line",
            code="E0151",
        )
    return tokens, None


def _top_level(tokens: list[Token], index: int) -> bool:
    depth = 0
    for tok in tokens[:index]:
        if tok.is_op("(", "["):
            depth += 1
        elif tok.is_op(")", "]"):
            depth -= 1
    return depth == 0


_OPERATORS = frozenset(("+", "-", "*", "/", "//", "%", "**"))  # those that continue an expression


class _Stream:
    """A cursor over one line's tokens with the expression grammar."""

    def __init__(self, tokens: list[Token], line: LogicalLine):
        self.tokens = tokens
        self.pos = 0
        self.line = line
        self.depth = 0  # brackets open
        self.levels: dict[int, int] = {}  # id(expr) -> its tree depth (operators, signs, tuples), when > 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.tokens)

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[self.pos + offset]

    def peek_is_op(self, offset: int, op: str) -> bool:
        i = self.pos + offset
        return i < len(self.tokens) and self.tokens[i].is_op(op)

    def next(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def end_span(self) -> Span:
        if self.tokens:
            last = self.tokens[min(self.pos, len(self.tokens)) - 1] if self.pos else self.tokens[0]
            if self.done:
                return Span(last.span.line, last.span.col + last.span.length, 1)
            return self.peek().span
        return Span(self.line.line, self.line.indent + 1 + len(self.line.tokens[0].text), 1)

    def error(self, expected: str, form: str | None = None) -> SpecSyntaxError:
        found = "end of line" if self.done else f"'{self.peek().text}'"
        return SpecSyntaxError(
            f"expected {expected}",
            self.end_span(),
            expected=expected,
            found=found,
            hint=f"the form is `{form}`" if form else None,
            code="E0120",
        )

    def expect_name(self, what: str) -> Token:
        if self.done or self.peek().kind != "NAME":
            raise self.error(what)
        return self.next()

    def expect_end(self) -> None:
        if not self.done:
            tok = self.peek()
            raise SpecSyntaxError(
                f"unexpected '{tok.text}'",
                tok.span,
                expected="end of the statement",
                found=f"'{tok.text}'",
                code="E0121",
            )

    # ------------------------------------------------------------------ expressions
    def argument_expr(self) -> Expr:
        """An expression that ends at a space-separated sign (`0 2 -1`) or at `key=`. Comparisons
        and `and`/`or`/`not` need brackets here: `bias=(c > 8)`."""
        pos, tokens = self.pos, self.tokens
        if pos < len(tokens) and tokens[pos].kind != "OP":
            following = tokens[pos + 1] if pos + 1 < len(tokens) else None
            if following is None or following.kind != "OP" or (
                following.text not in _OPERATORS and not (following.text in "([" and not following.space_before)
            ):
                return self._atom()  # the common `64`, `k=3`, `p=same`: one token, no operator
        return self._sum(free=False)

    def free_expr(self) -> Expr:
        """A whole expression: comparisons and `and`/`or`/`not` included (`let`, `if`, brackets)."""
        return self._test()

    def _test(self) -> Expr:
        """``or`` of ``and`` of ``not``-prefixed comparisons, in one frame (a bracket nests
        expressions 100 deep: each level costs Python frames)."""
        ors: list[Expr] = []
        while True:
            ands: list[Expr] = []
            while True:
                nots: list[Token] = []
                while not self.done and self.peek().is_name("not"):
                    nots.append(self.next())
                item = self._sum(free=True)
                ops: list[str] = []
                operands = [item]
                while not self.done and self.peek().kind == "OP" and self.peek().text in COMPARISONS:
                    ops.append(self.next().text)
                    operands.append(self._sum(free=True))
                if ops:
                    item = Compare(tuple(ops), tuple(operands), _join(operands[0], operands[-1]))
                for tok in reversed(nots):
                    item = Unary("not", item, Span(tok.span.line, tok.span.col, max(1, _end(item) - tok.span.col)))
                ands.append(item)
                if not self.done and self.peek().is_name("and"):
                    self.next()
                    continue
                break
            ors.append(ands[0] if len(ands) == 1 else BoolOp("and", tuple(ands), _join(ands[0], ands[-1])))
            if not self.done and self.peek().is_name("or"):
                self.next()
                continue
            break
        return ors[0] if len(ors) == 1 else BoolOp("or", tuple(ors), _join(ors[0], ors[-1]))

    def _level(self, node: Expr, op: Token, *children: Expr) -> Expr:
        """Record ``node``'s depth: one more than its deepest child. Past MAX_EXPR_DEPTH it is
        E0502: every walk over an expression (the parser's signs and powers, the evaluator)
        recurses once per level, so 1,000 signs or 30,000 `+` would exhaust Python's stack."""
        level = 1 + max(self.levels.get(id(child), 0) for child in children)
        if level > MAX_EXPR_DEPTH:
            raise SpecLimitError(
                f"expression nested more than {MAX_EXPR_DEPTH} operators deep",
                op.span,
                expected=f"at most {MAX_EXPR_DEPTH} levels of operators, signs and brackets in one expression",
                found=f"'{op.text}' at level {level}",
                hint="simplify the expression, or compute parts of it with `let`",
                code="E0502",
            )
        self.levels[id(node)] = level
        return node

    def _sum(self, free: bool) -> Expr:
        left = self._product(free)
        while not self.done and self.peek().is_op("+", "-"):
            op = self.peek()
            if not free and self.depth == 0 and op.space_before and self.pos + 1 < len(self.tokens) and not self.peek(1).space_before:
                break  # `2 -1`: a new, negative argument
            self.next()
            right = self._product(free)
            left = self._level(Binary(op.text, left, right, _join(left, right)), op, left, right)
        return left

    def _product(self, free: bool) -> Expr:
        left = self._unary(free)
        while not self.done and self.peek().is_op("*", "/", "//", "%"):
            op = self.next()
            right = self._unary(free)
            left = self._level(Binary(op.text, left, right, _join(left, right)), op, left, right)
        return left

    def _unary(self, free: bool) -> Expr:
        """``('-'|'+') unary | atom ['**' unary]``, read with a loop and a stack, not a recursion:
        a thousand signs or powers in a row cannot exhaust Python's stack; their depth is E0502."""
        pending: list[tuple[Token, Expr | None]] = []  # (sign, None) or ('**', its base), outermost first
        while True:
            while not self.done and self.peek().is_op("-", "+"):
                pending.append((self.next(), None))
            base = self._atom()
            if self.done or not self.peek().is_op("**"):
                break
            pending.append((self.next(), base))  # the exponent is a unary again: `2 ** -3`, `2 ** 3 ** 2`
        result = base
        for op, left in reversed(pending):
            if left is None:
                node: Expr = Unary(op.text, result, Span(op.span.line, op.span.col, _end(result) - op.span.col))
                result = self._level(node, op, result)
            else:
                result = self._level(Binary("**", left, result, _join(left, result)), op, left, result)
        return result

    def _atom(self) -> Expr:
        if self.done:
            raise self.error("a value (number, name, string, shape or '(')")
        tok = self.next()
        if tok.kind == "INT" or tok.kind == "FLOAT" or tok.kind == "STRING":
            return Const(tok.value, tok.span)
        if tok.kind == "DIMS":
            return Dims(tok.value, tok.span)
        if tok.kind == "NAME":
            lowered = tok.text.lower()
            if lowered in _LITERALS:
                return Const(_LITERALS[lowered], tok.span)
            if not self.done and not self.peek().space_before:
                if self.peek().is_op("["):
                    return self._subscript(tok)
                if self.peek().is_op("(") and lowered in FUNCTIONS:
                    return self._call(tok)
            return Name(tok.text, tok.span)
        if tok.kind == "PATH":  # a dotted row path: `tie=encoder.shared`, `reuse encoder.block`
            return Name(tok.text, tok.span)
        if tok.is_op("(", "["):
            closer = ")" if tok.text == "(" else "]"
            self._enter(tok)
            items: list[Expr] = []
            trailing_comma = False
            while True:
                if self.done:
                    raise self.error(f"'{closer}'")
                if self.peek().is_op(closer):
                    end = self.next()
                    break
                items.append(self._test())
                trailing_comma = False
                if not self.done and self.peek().is_op(","):
                    self.next()
                    trailing_comma = True
                elif not self.done and not self.peek().is_op(closer):
                    bad = self.peek()
                    raise SpecSyntaxError(
                        f"unexpected '{bad.text}' inside brackets",
                        bad.span,
                        expected=f"',' or '{closer}'",
                        found=f"'{bad.text}'",
                        hint=CALL_FORMS if bad.is_op("=") else None,
                        code="E0122",
                    )
            self.depth -= 1
            span = Span(tok.span.line, tok.span.col, max(1, end.span.col + 1 - tok.span.col)) if end.span.line == tok.span.line else tok.span
            if closer == ")" and len(items) == 1 and not trailing_comma:
                return items[0]
            if not items:
                raise SpecSyntaxError("empty brackets", tok.span, expected="at least one value", code="E0122")
            return self._level(TupleExpr(tuple(items), span), tok, *items)
        raise SpecSyntaxError(
            f"unexpected '{tok.text}'",
            tok.span,
            expected="a value (number, name, string, shape or '(')",
            found=f"'{tok.text}'",
            code="E0123",
        )


    def _enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_EXPR_DEPTH:
            raise SpecLimitError(f"expression nested more than {MAX_EXPR_DEPTH} brackets deep", tok.span, code="E0502")

    def _subscript(self, name: Token) -> Expr:
        """``NAME[i]`` or ``NAME[a:b]`` / ``NAME[a:b:c]`` (each part optional, as in Python)."""
        opener = self.next()
        self._enter(opener)
        parts: list[Expr | None] = [None]
        colons: list[Token] = []
        while True:
            if self.done:
                raise self.error("']'")
            tok = self.peek()
            if tok.is_op("]"):
                end = self.next()
                break
            if tok.is_op(":"):
                colons.append(self.next())
                if len(colons) > 2:
                    raise SpecSyntaxError("a slice has at most two ':'", tok.span, expected="[start:stop] or [start:stop:step]", code="E0152")
                parts.append(None)
                continue
            if parts[-1] is not None:
                raise SpecSyntaxError(
                    f"unexpected '{tok.text}' in a subscript",
                    tok.span,
                    expected="one index (in[1]) or a slice (in[2:], in[-2:])",
                    found=f"'{tok.text}'",
                    code="E0152",
                )
            parts[-1] = self._test()
        self.depth -= 1
        span = Span(name.span.line, name.span.col, max(1, end.span.col + 1 - name.span.col)) if end.span.line == name.span.line else name.span
        if not colons:
            if parts[0] is None:
                raise SpecSyntaxError("empty subscript", opener.span, expected="an index such as [1] or a slice such as [2:]", code="E0152")
            return Subscript(name.text, parts[0], span, name.span)
        parts += [None] * (3 - len(parts))
        slice_span = Span(opener.span.line, opener.span.col + 1, max(1, end.span.col - opener.span.col - 1))
        return Subscript(name.text, SliceExpr(parts[0], parts[1], parts[2], slice_span), span, name.span)

    def _call(self, name: Token) -> Expr:
        """``max(a, b)``: a function of FUNCTIONS and its arguments."""
        opener = self.next()
        self._enter(opener)
        args: list[Expr] = []
        while True:
            if self.done:
                raise self.error("')'")
            if self.peek().is_op(")"):
                end = self.next()
                break
            args.append(self._test())
            if not self.done and self.peek().is_op(","):
                self.next()
            elif not self.done and not self.peek().is_op(")"):
                bad = self.peek()
                raise SpecSyntaxError(
                    f"unexpected '{bad.text}' inside brackets",
                    bad.span,
                    expected="',' or ')'",
                    found=f"'{bad.text}'",
                    code="E0122",
                )
        self.depth -= 1
        span = Span(name.span.line, name.span.col, max(1, end.span.col + 1 - name.span.col)) if end.span.line == name.span.line else name.span
        return FuncCall(name.text.lower(), tuple(args), span)


def _end(expr: Expr) -> int:
    return expr.span.col + expr.span.length


def _join(left: Expr, right: Expr) -> Span:
    if left.span.line != right.span.line:
        return left.span
    return Span(left.span.line, left.span.col, max(1, _end(right) - left.span.col))
