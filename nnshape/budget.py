"""Limits for `nnshape check`: human units, the `--output` shape, and the budget file.

Counts take decimal suffixes (``30M``, ``5G``, ``1.5k``; K/M/G/T = 10³/10⁶/10⁹/10¹²) or plain
integers (``30000000``, ``30_000_000``, ``30,000,000``). Byte sizes take the same plus ``B``,
``kB``/``MB``/``GB``/``TB`` (decimal, like every memory figure nnshape prints) and
``KiB``/``MiB``/``GiB``/``TiB``.

The budget file is TOML with one table per spec path or glob, relative to the file's folder::

    ["models/*.nn"]
    max-params = "50M"

    ["models/resnet50.nn"]
    output = "1000"
    max-macs = "5G"

Every table whose pattern matches a spec applies, in file order (a later table overrides a key of
an earlier one); options on the command line override the file. In a ``pyproject.toml`` the
tables live under ``[tool.nnshape.budget]``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .globmatch import Glob, GlobError, Meter, walk
from .limits import MAX_BUDGET_BYTES, MAX_BUDGET_TABLES, MAX_INT, MAX_PATTERN_CHARS
from .safetext import one_line

_NUMBER = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
BYTE_UNITS = {
    **COUNT_UNITS,
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
# budget-file key -> Limits field (dashes or underscores both accepted)
KEYS = {
    "output": "output",
    "max-params": "max_params",
    "min-params": "min_params",
    "max-macs": "max_macs",
    "max-memory": "max_memory",
    "max-device-memory": "max_device_memory",
    "trainable-only": "trainable_only",
}


class BudgetError(ValueError):
    """A limit or a budget file that cannot be understood (a usage error, exit status 2).

    In a budget file it is located: ``str(error)`` reads ``nnshape.toml:3:1: message`` (the file
    name shown on one line, safetext)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, col: int | None = None):
        from .safetext import one_line

        self.message, self.path, self.line, self.col = message, path, line, col
        where = one_line(path) + (f":{line}:{col or 1}" if line else "") if path is not None else ""
        super().__init__(f"{where}: {message}" if where else message)


def _parse(text: str | int, units: dict[str, int], what: str, examples: str) -> int:
    if isinstance(text, bool):
        raise BudgetError(f"{what}: expected a number like {examples}, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        if len(str(text)) > 40:  # 2**63 - 1 has 19 digits (and separators); past this, Decimal and int() are the cost
            raise BudgetError(f"{what}: {str(text)[:40]!r}... is too long for a number; write a number like {examples}")
        match = _NUMBER.match(str(text))
        unit = match.group(2).lower() if match else ""
        if not match or unit not in units:
            raise BudgetError(f"{what}: cannot read {text!r}; write a number like {examples}")
        digits = match.group(1).replace("_", "").replace(",", "")
        try:
            exact = Decimal(digits) * units[unit]
        except InvalidOperation:
            raise BudgetError(f"{what}: cannot read {text!r}; write a number like {examples}") from None
        if exact != exact.to_integral_value():
            raise BudgetError(f"{what}: {text!r} is not a whole number")
        value = int(exact)
    if value < 0:
        raise BudgetError(f"{what}: {text!r} is negative")
    if value > MAX_INT:
        raise BudgetError(f"{what}: {_short(text)} is too large; at most {MAX_INT:,} (2**63 - 1)")
    return value


def _short(value: object) -> str:
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else f"a number of {value.bit_length():,} bits"
    return text if len(text) <= 60 else text[:57] + "..."


def parse_count(text: str | int, what: str = "count") -> int:
    """'30M' -> 30_000_000; '1.5k' -> 1500; '25_557_032' -> 25557032."""
    return _parse(text, COUNT_UNITS, what, "30M, 5G, 1.5k or 25000000")


def parse_bytes(text: str | int, what: str = "size") -> int:
    """'2GB' -> 2_000_000_000; '512MiB' -> 536870912; a plain integer is bytes."""
    return _parse(text, BYTE_UNITS, what, "2GB, 512MB, 1GiB or 2000000000")


def parse_shape(text: str | list | int, bindings: dict[str, object] | None = None, what: str = "output") -> tuple:
    """A per-sample shape (batch excluded): `1000`, `128x768`, `(L, 768)`; names not bound stay symbolic."""
    from .errors import NNShapeError
    from .symbolic import Poly

    if isinstance(text, list):
        text = "(" + ", ".join(str(t) for t in text) + ("," if len(text) == 1 else "") + ")"
    text = str(text).strip().replace("×", "x")
    if not text:
        raise BudgetError(f"{what}: empty shape; write it like 1000, 128x768 or (L, 768)")
    from .parser import parse_expression
    from .source import Source
    from .values import Evaluator

    values = dict(bindings or {})
    try:
        expr = parse_expression(Source(what, text))
        if expr is None:
            raise BudgetError(f"{what}: {text!r} must be one shape")
        value = Evaluator(lambda n: values[n], lambda: list(values), symbols=True).eval(expr)
    except NNShapeError as err:
        raise BudgetError(f"{what}: cannot read shape {text!r}: {err.message}") from None
    dims = value if isinstance(value, tuple) else (value,)
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, (int, Poly)) or (isinstance(dim, int) and dim < 0):
            raise BudgetError(f"{what}: {text!r} is not a shape (sizes must be whole numbers or names), e.g. 1000, 128x768 or (L, 768)")
    return dims


@dataclass(frozen=True)
class Limit:
    """One limit and where it came from (`--max-params` or `nnshape.toml ["models/*.nn"]`)."""

    value: object
    text: str  # as written
    origin: str


@dataclass(frozen=True)
class Limits:
    output: Limit | None = None  # value: the raw text, parsed per spec (bindings may differ)
    max_params: Limit | None = None
    min_params: Limit | None = None
    max_macs: Limit | None = None
    max_memory: Limit | None = None
    max_device_memory: Limit | None = None  # the per-device plan's total (with `plan = {...}` or --dp/--zero/...)
    trainable_only: Limit | None = None

    def merged(self, other: "Limits") -> "Limits":
        """`other`'s limits override ours where set."""
        return replace(self, **{k: v for k, v in other.__dict__.items() if v is not None})

    @property
    def empty(self) -> bool:
        return all(v is None for v in self.__dict__.values())


def make_limit(key: str, raw: object, origin: str) -> Limit:
    """Validate one limit (`key` is a budget-file key such as 'max-params')."""
    what = f"{key} ({origin})"
    if key in ("max-params", "min-params", "max-macs"):
        return Limit(parse_count(raw, what), str(raw), origin)
    if key in ("max-memory", "max-device-memory"):
        return Limit(parse_bytes(raw, what), str(raw), origin)
    if key == "trainable-only":
        if not isinstance(raw, bool):
            raise BudgetError(f"{what}: expected true or false, got {raw!r}")
        return Limit(raw, str(raw).lower(), origin)
    if key == "output":
        if not isinstance(raw, (str, int, list)) or isinstance(raw, bool):
            raise BudgetError(f"{what}: expected a shape like \"1000\" or \"128x768\", got {raw!r}")
        parse_shape(raw, what=what)  # fail early on nonsense; bindings are applied per spec
        return Limit(raw, str(raw) if not isinstance(raw, list) else "x".join(map(str, raw)), origin)
    raise BudgetError(f"unknown limit {key!r}")


@dataclass(frozen=True)
class BudgetTable:
    pattern: str
    limits: Limits
    bindings: dict[str, object] = field(default_factory=dict)
    plan: dict[str, object] = field(default_factory=dict)  # planning options (docs/will-it-fit.md)
    glob: Glob | None = None  # the pattern, compiled (matched in linear time: globmatch)
    line: int | None = None  # where the table starts in the budget file


@dataclass(frozen=True)
class Budget:
    path: Path
    tables: tuple[BudgetTable, ...]
    meter: Meter = field(default_factory=Meter, compare=False)  # the steps and entries this command's matching may take

    @property
    def root(self) -> Path:
        """The budget file's folder: every pattern is relative to it and stays inside it."""
        return Path(os.path.abspath(self.path)).parent

    def _matches(self, table: BudgetTable, candidates: list[str]) -> bool:
        glob = table.glob or Glob(table.pattern)
        try:
            return any(glob.match(c, self.meter) for c in candidates)
        except GlobError as err:
            raise BudgetError(err.message, path=str(self.path), line=table.line) from None

    def for_spec(self, spec: str) -> tuple[Limits, dict[str, object], bool]:
        """The merged limits and bindings of every table matching `spec`; and whether any matched."""
        limits, bindings, matched = Limits(), {}, False
        candidates = _candidates(spec, self.root)
        for table in self.tables:
            if self._matches(table, candidates):
                limits = limits.merged(table.limits)
                bindings.update(table.bindings)
                matched = True
        return limits, bindings, matched

    def plan_for(self, spec: str) -> dict[str, object]:
        """The merged planning options (`plan = { dp = 8, zero = 3 }`) of the tables matching `spec`."""
        plan: dict[str, object] = {}
        candidates = _candidates(spec, self.root)
        for table in self.tables:
            if table.plan and self._matches(table, candidates):
                plan.update(table.plan)
        return plan

    def specs(self) -> list[str]:
        """Every existing file a table names (for `nnshape check --budget FILE` without SPECs): only
        inside the budget file's folder. A match that is a link to a file outside it is refused, never
        read (a pull request could add `models/x.nn -> /proc/self/environ`); links to folders are
        not followed (no loops)."""
        root = str(self.root)
        real_root = os.path.realpath(root)
        found: list[str] = []
        for table in self.tables:
            glob = table.glob or Glob(table.pattern)
            try:
                if glob.has_magic:
                    rels = walk(table.pattern, root, self.meter)
                else:
                    rels = [glob.pattern] if os.path.isfile(os.path.join(root, glob.pattern)) else []
            except GlobError as err:
                raise BudgetError(err.message, path=str(self.path), line=table.line) from None
            for rel in rels:
                full = os.path.join(root, rel)
                real = os.path.realpath(full)
                if os.path.commonpath([real, real_root]) != real_root:
                    raise BudgetError(
                        f"[\"{table.pattern}\"] matches '{rel}', a link to '{real}', outside the budget file's folder; "
                        "budget patterns name specs inside it",
                        path=str(self.path), line=table.line,
                    )
                shown = _display(full)
                if shown not in found:
                    found.append(shown)
        return found


def _display(path: str) -> str:
    """A path as the user would write it from here: relative to the current folder when inside it."""
    absolute = os.path.abspath(path)
    here = os.getcwd()
    if os.path.commonpath([absolute, here]) == here:
        return os.path.relpath(absolute, here)
    return absolute


def _candidates(spec: str, root: Path) -> list[str]:
    """The spec's path as written (without a leading ./) and relative to the budget file's folder
    (when it is inside it): the paths a pattern is matched against."""
    written = Path(spec).as_posix()
    while written.startswith("./"):
        written = written[2:]
    out = [written]
    absolute = os.path.abspath(spec)
    if os.path.commonpath([absolute, str(root)]) == str(root):
        relative = Path(os.path.relpath(absolute, root)).as_posix()
        if relative not in out:
            out.append(relative)
    return out


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a budget table's pattern (None: it can). Patterns are relative
    paths inside the budget file's folder: not absolute, no `..`, no control characters."""
    from .safetext import is_clean

    if not pattern.strip():
        return "an empty pattern; write a path or glob relative to the budget file, e.g. [\"models/*.nn\"]"
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"a pattern of {len(pattern):,} characters; at most {MAX_PATTERN_CHARS:,}"
    if not is_clean(pattern) or "\n" in pattern or "\t" in pattern:
        return "a pattern with a control character"
    normal = pattern.replace("\\", "/")
    if normal.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", normal):
        return f"'{pattern}' is absolute; patterns are relative to the budget file's folder and stay inside it"
    if ".." in normal.split("/"):
        return f"'{pattern}' leaves the budget file's folder ('..'); patterns stay inside it"
    try:
        Glob(pattern)
    except GlobError as err:
        return err.message
    return None


def read_budget_text(path: Path) -> str:
    """The budget file's text: a regular file (a FIFO would block), at most MAX_BUDGET_BYTES, UTF-8."""
    import stat as stat_module

    name = str(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as exc:
        raise BudgetError(f"cannot read budget file '{one_line(str(path))}': {getattr(exc, 'strerror', None) or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat_module.S_ISREG(info.st_mode):
            raise BudgetError("not a regular file (a FIFO, a device or a folder); a budget file is a TOML file", path=name)
        data = handle.read(MAX_BUDGET_BYTES + 1)
    if len(data) > MAX_BUDGET_BYTES:
        raise BudgetError(f"the budget file is larger than {MAX_BUDGET_BYTES:,} bytes", path=name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BudgetError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); a budget file is UTF-8 TOML", path=name, line=line, col=col) from None


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def parse_toml(text: str, path: Path) -> dict:
    """tomllib's parse, with each of its failures a located BudgetError (a ValueError for a number of
    4,301 digits or more, a RecursionError for arrays nested a thousand deep)."""
    import tomllib

    name = str(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = _TOML_WHERE.search(message)
        if where:
            raise BudgetError(f"not valid TOML: {message[:where.start()]}", path=name, line=int(where[1]), col=int(where[2])) from None
        raise BudgetError(f"not valid TOML: {message}", path=name) from None
    except ValueError:  # int(): a literal of 4,301 digits or more
        line, col = _position(text, re.search(r"[0-9][0-9_]{4000,}", text))
        raise BudgetError(f"a number too large; at most {MAX_INT:,} (2**63 - 1)", path=name, line=line, col=col) from None
    except RecursionError:
        line, col = _position(text, re.search(r"(?:[\[{]\s*){100}", text))
        raise BudgetError("arrays or tables nested too deeply", path=name, line=line, col=col) from None


def _position(text: str, match) -> tuple[int | None, int | None]:
    if match is None:
        return None, None
    start = match.start()
    return text.count("\n", 0, start) + 1, start - (text.rfind("\n", 0, start) + 1) + 1


def _locate(text: str, table: tuple[str, ...], key: str | None = None) -> tuple[int | None, int | None]:
    """Line and column of a table (``table``: the keys from the top, e.g. ("models/*.nn",) or
    ("tool", "nnshape", "budget", "models/*.nn")) or of one of its keys, found by reading each
    line as TOML on its own: headers, `key = value` and dotted keys on one line (best effort:
    None, None when the text does not say it on one line)."""
    import tomllib

    current: tuple[str, ...] = ()
    found_table: tuple[int, int] | None = None
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            parsed = tomllib.loads(stripped)
        except (tomllib.TOMLDecodeError, ValueError, RecursionError):
            continue
        col = len(line) - len(line.lstrip()) + 1
        if stripped.startswith("[") and not stripped.startswith("[["):
            path = []
            node = parsed
            while isinstance(node, dict) and len(node) == 1:
                name, node = next(iter(node.items()))
                path.append(name)
            current = tuple(path)
            if current == table:
                found_table = (number, col)
                if key is None:
                    return found_table
            continue
        for path in _key_paths(parsed):
            full = current + path
            if key is None and full[: len(table)] == table:
                return number, col
            if key is not None and full[: len(table) + 1] == table + (key,):
                return number, col
    return found_table if found_table else (None, None)


def _key_paths(node: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, value in node.items():
        paths.append(prefix + (name,))
        if isinstance(value, dict):
            paths.extend(_key_paths(value, prefix + (name,)))
    return paths


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _binding(name: object, value: object) -> str | None:
    """Why `set`'s ``name = value`` cannot be bound (None: it can)."""
    import math

    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        return f"'set' binds names used in specs: {name!r} is not a name (letters, digits and '_', not first a digit)"
    if isinstance(value, bool) or isinstance(value, str):
        return None
    if isinstance(value, int):
        return None if abs(value) <= MAX_INT else f"set.{name}: {_short(value)} is too large; at most {MAX_INT:,} (2**63 - 1)"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"set.{name}: {value!r} is not a finite number"
    return f"set.{name}: {type(value).__name__} values cannot be bound; use a number, a string or true/false"


def load_budget(path: str | Path) -> Budget:
    """Read and validate a budget file; every problem is a BudgetError located in the file
    (``file:line:col: message``, a usage error)."""
    path = Path(path)
    text = read_budget_text(path)
    data = parse_toml(text, path)
    name = str(path)
    prefix: tuple[str, ...] = ()
    if path.name == "pyproject.toml":
        prefix = ("tool", "nnshape", "budget")
        for depth in range(len(prefix)):
            data = data.get(prefix[depth], {})
            if not isinstance(data, dict):
                line, col = _locate(text, prefix[: depth + 1])
                raise BudgetError(f"[{'.'.join(prefix[: depth + 1])}] must be a table", path=name, line=line, col=col)
    if len(data) > MAX_BUDGET_TABLES:
        raise BudgetError(f"{len(data):,} tables; a budget file holds at most {MAX_BUDGET_TABLES:,}", path=name)
    tables = []
    for pattern, body in data.items():
        origin = f"{path} [\"{pattern}\"]"

        def located(message: str, key: str | None = None) -> BudgetError:
            line, col = _locate(text, prefix + (pattern,), key)
            return BudgetError(message, path=name, line=line, col=col)

        if not isinstance(body, dict):
            raise located(
                f"'{pattern}' must be a table of limits for the specs it matches, "
                f"e.g. [\"models/*.nn\"] followed by max-params = \"30M\""
            )
        problem = pattern_problem(pattern)
        if problem:
            raise located(f"[\"{pattern}\"]: {problem}")
        fields: dict[str, Limit] = {}
        bindings: dict[str, object] = {}
        plan: dict[str, object] = {}
        for key, raw in body.items():
            norm = key.replace("_", "-").lower()
            try:
                if norm == "set":
                    if not isinstance(raw, dict):
                        raise BudgetError(f"{origin}: 'set' must be a table of names and values, e.g. set = {{ L = 128 }}")
                    for bound, value in raw.items():
                        why = _binding(bound, value)
                        if why:
                            raise BudgetError(f"{origin}: {why}")
                    bindings.update(raw)
                    continue
                if norm == "plan":
                    plan.update(_plan_table(raw, origin))
                    continue
                if norm not in KEYS:
                    from .suggest import did_you_mean

                    hint = did_you_mean(norm, list(KEYS) + ["set"])
                    raise BudgetError(f"{origin}: unknown key '{key}'" + (f"; {hint}" if hint else f"; known keys: {', '.join(KEYS)}, set"))
                fields[KEYS[norm]] = make_limit(norm, raw, origin)
            except BudgetError as err:  # the file is in the location now: name the table only
                raise located(err.message.replace(f"{origin}: ", f"[\"{pattern}\"]: ", 1), key) from None
        line, _ = _locate(text, prefix + (pattern,))
        tables.append(BudgetTable(pattern, Limits(**fields), bindings, plan, Glob(pattern), line))
    return Budget(path, tuple(tables))


def _plan_table(raw: object, origin: str) -> dict[str, object]:
    """`plan = { dp = 8, zero = 3, gpu = "h100" }`: the planning options, checked (docs/will-it-fit.md)."""
    from .errors import NNShapeError
    from .planning import KEYWORDS, make_parallel

    example = 'e.g. plan = { dp = 8, zero = 3, gpu = "h100" }'
    if not isinstance(raw, dict):
        raise BudgetError(f"{origin}: 'plan' must be a table of planning options, {example}")
    options = {str(k).replace("-", "_").lower(): v for k, v in raw.items()}
    unknown = [k for k in options if k not in KEYWORDS]
    if unknown:
        raise BudgetError(f"{origin}: unknown planning option '{unknown[0]}' in 'plan'; known: {', '.join(KEYWORDS)}")
    if isinstance(options.get("device_memory"), str):
        options["device_memory"] = parse_bytes(options["device_memory"], f"{origin} plan.device-memory")
    try:
        make_parallel(**options)
    except NNShapeError as err:
        raise BudgetError(f"{origin}: plan: {err.message}" + (f" ({err.found})" if err.found else "")) from None
    return options
