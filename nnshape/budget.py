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

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

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
    """A limit or a budget file that cannot be understood (a usage error, exit status 2)."""


def _parse(text: str | int, units: dict[str, int], what: str, examples: str) -> int:
    if isinstance(text, bool):
        raise BudgetError(f"{what}: expected a number like {examples}, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
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
    return value


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


@dataclass(frozen=True)
class Budget:
    path: Path
    tables: tuple[BudgetTable, ...]

    @property
    def root(self) -> Path:
        return self.path.resolve().parent

    def for_spec(self, spec: str) -> tuple[Limits, dict[str, object], bool]:
        """The merged limits and bindings of every table matching `spec`; and whether any matched."""
        limits, bindings, matched = Limits(), {}, False
        candidates = _candidates(spec, self.root)
        for table in self.tables:
            regex = glob_regex(table.pattern)
            if any(regex.fullmatch(c) for c in candidates):
                limits = limits.merged(table.limits)
                bindings.update(table.bindings)
                matched = True
        return limits, bindings, matched

    def plan_for(self, spec: str) -> dict[str, object]:
        """The merged planning options (`plan = { dp = 8, zero = 3 }`) of the tables matching `spec`."""
        plan: dict[str, object] = {}
        candidates = _candidates(spec, self.root)
        for table in self.tables:
            if table.plan and any(glob_regex(table.pattern).fullmatch(c) for c in candidates):
                plan.update(table.plan)
        return plan

    def specs(self) -> list[str]:
        """Every existing file a table names (for `nnshape check --budget FILE` without SPECs)."""
        found: list[str] = []
        for table in self.tables:
            pattern = table.pattern
            base = Path(pattern) if Path(pattern).is_absolute() else self.root / pattern
            if any(ch in pattern for ch in "*?["):
                anchor = Path(base.anchor) if Path(pattern).is_absolute() else self.root
                rel = str(base.relative_to(anchor)) if Path(pattern).is_absolute() else pattern
                paths = sorted(p for p in anchor.glob(rel) if p.is_file())
            else:
                paths = [base] if base.is_file() else []
            for p in paths:
                shown = _display(p)
                if shown not in found:
                    found.append(shown)
        return found


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _candidates(spec: str, root: Path) -> list[str]:
    """The spec's path as written, absolute, and relative to the budget file's folder."""
    out = [Path(spec).as_posix()]
    absolute = Path(spec).resolve()
    out.append(absolute.as_posix())
    try:
        out.append(absolute.relative_to(root).as_posix())
    except ValueError:
        pass
    return out


def glob_regex(pattern: str) -> re.Pattern:
    """Shell-style glob over '/'-separated paths: `*` and `?` stay within a folder, `**` crosses folders."""
    pattern = pattern.replace("\\", "/")
    pattern = pattern.removeprefix("./")
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out))


def load_budget(path: str | Path) -> Budget:
    """Read and validate a budget file; every problem is a BudgetError naming the file and table."""
    import tomllib

    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise BudgetError(f"cannot read budget file '{path}': {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BudgetError(f"budget file '{path}' is not valid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("nnshape", {}).get("budget", {})
    tables = []
    for pattern, body in data.items():
        origin = f"{path} [\"{pattern}\"]"
        if not isinstance(body, dict):
            raise BudgetError(
                f"budget file '{path}': '{pattern}' must be a table of limits for the specs it matches, "
                f"e.g. [\"models/*.nn\"] followed by max-params = \"30M\""
            )
        fields: dict[str, Limit] = {}
        bindings: dict[str, object] = {}
        plan: dict[str, object] = {}
        for key, raw in body.items():
            norm = key.replace("_", "-").lower()
            if norm == "set":
                if not isinstance(raw, dict) or not all(isinstance(v, (int, float, str, bool)) for v in raw.values()):
                    raise BudgetError(f"{origin}: 'set' must be a table of names and values, e.g. set = {{ L = 128 }}")
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
        tables.append(BudgetTable(pattern, Limits(**fields), bindings, plan))
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
