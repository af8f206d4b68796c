"""The error catalogue (docs/errors.md) stays complete and true.

(a) every code the source can emit is documented, and every documented code is emitted somewhere;
(b) every example spec in the catalogue (a fence ```nn error EXXXX) fails with exactly that code and
    the first report line shown under it;
(c) every code a spec can trigger has a golden spec in tests/golden/errors/, except the short,
    explained ALLOW_LIST below — whose codes are triggered here directly instead.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

import pytest

import nnshape
from nnshape.source import MAX_SPEC_BYTES, Source

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "nnshape"
CATALOGUE = ROOT / "docs" / "errors.md"
GOLDEN = Path(__file__).parent / "golden" / "errors"

# `code="E0405"` (a call's keyword), `code = "E0601"` (a class default), `code: str = "E0401"` (a
# parameter default) and `Diagnostic("warning", "W0401", ...)`.
CODE_IN_SOURCE = re.compile(r"""\bcode\s*(?::\s*str\s*)?=\s*["']([EW]\d{4})["']|Diagnostic\(\s*"warning",\s*"(W\d{4})\"""")
FAMILY_BASE = re.compile(r"^E0[0-9]00$")  # class defaults of the families; never raised (see docs/errors.md)
HEADING = re.compile(r"^### ([EW]\d{4}) — ", re.M)
FENCE = re.compile(r"^```nn (error|warning) ([EW]\d{4})\n(.*?)^```\n\s*Report:\s*\n```text\n(.*?)^```", re.M | re.S)

# Codes without a golden spec, each for a reason the golden harness cannot express. Each is still
# triggered by `test_allow_listed_codes_are_reachable` below (E0602 excepted).
ALLOW_LIST = {
    "E0001": "the spec file cannot be opened: a command-line situation, not spec text",
    "E0002": "invalid UTF-8: the golden harness decodes the bytes outside its try block",
    "E0003": "needs a spec over 16 MiB; a golden file that large does not belong in the repository",
    "E0509": "needs a line over 100,000 characters: a 100 kB golden spec does not belong in the repository",
    "E0505": "the line it names is where Python's recursion limit struck, which depends on the interpreter's stack",
    "E0320": "a batch size below 1 comes only from the Python API (the CLI's --batch checks itself)",
    "E0321": "a device problem of `nnshape verify`, not of the spec",
    "E0508": "a resource limit of `nnshape verify`, not of the analysis",
    "E0601": "PyTorch missing: an environment situation",
    "E0602": "an internal export safeguard that no registered kind reaches",
    "E0316": "an export class name given to the Python API (the CLI's --class-name checks itself)",
    # pictures (draw, report): not errors of the spec's analysis; tests/test_draw.py and
    # tests/test_report.py trigger each one
    "E0620": "Graphviz's dot missing: an environment situation",
    "E0621": "a picture file name with an unknown suffix given to the Python API (the CLI checks -o itself)",
    "E0622": "a diagram too large to lay out: a limit of `nnshape draw`, not of the analysis",
    "E0623": "Graphviz failed or timed out: an environment situation",
    "E0624": "plotly missing: an environment situation",
    "E0330": "an export mode given to the Python API (the CLI's --twins offers only the valid ones)",
    "E0603": "a limit of `nnshape export` (a 16 MiB file), not of the analysis",
    "E0004": "a spec of the wrong type (None, bytes) given to the Python API: no spec text can be one",
    "E0005": "a bad binding given to the Python API (the CLI's --set parses its own values)",
}


# Codes of the per-device plan's options and of `verify --dp/--tp`: command-line or API options,
# not spec text, trigger them, so no golden spec can. Each is triggered below (REACH).
OPTION_CODES = {
    "E0530": "a planning option's value (--zero 5, serve with zero)",
    "E0531": "an unknown --gpu name",
    "E0532": "a plan of a spec with a symbolic size (any spec with `input (L, 8)` is fine without a plan)",
    "E0533": "--pp deeper than the network",
    "E0640": "a distributed verify configuration it cannot run",
}


def source_codes() -> dict[str, list[str]]:
    """Every code literal in nnshape/, with where it occurs."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in CODE_IN_SOURCE.finditer(line):
                code = match.group(1) or match.group(2)
                if not FAMILY_BASE.match(code):
                    found.setdefault(code, []).append(f"{path.relative_to(ROOT)}:{lineno}")
    return found


@functools.cache
def catalogue() -> str:
    return CATALOGUE.read_text(encoding="utf-8")


def documented_codes() -> set[str]:
    return set(HEADING.findall(catalogue()))


def examples() -> list[tuple[str, str, str, str]]:
    return [m.groups() for m in FENCE.finditer(catalogue())]


def outcome(data: bytes, name: str = "example.nn"):
    try:
        return nnshape.summarize(Source.from_bytes(name, data))
    except nnshape.NNShapeError as err:
        return err


# ----------------------------------------------------------------------------- (a)


def test_every_emitted_code_is_documented_and_vice_versa():
    emitted = source_codes()
    documented = documented_codes()
    missing = sorted(set(emitted) - documented)
    stale = sorted(documented - set(emitted))
    problems = [f"{code} is emitted at {', '.join(emitted[code])} but not in docs/errors.md" for code in missing]
    problems += [f"{code} is documented in docs/errors.md but emitted nowhere in nnshape/" for code in stale]
    assert not problems, "\n".join(problems)


def test_each_code_is_documented_once():
    headings = HEADING.findall(catalogue())
    assert len(headings) == len(set(headings)), sorted({c for c in headings if headings.count(c) > 1})


# ----------------------------------------------------------------------------- (b)


def test_catalogue_has_examples():
    assert len(examples()) >= 60


@pytest.mark.parametrize("severity,code,spec,report", examples(), ids=[e[1] for e in examples()])
def test_catalogue_example_gives_its_code(severity, code, spec, report):
    result = outcome(spec.encode())
    first_line = report.splitlines()[0]
    if severity == "warning":
        assert not isinstance(result, nnshape.NNShapeError), str(result)
        assert code in {w.code for w in result.warnings}
        assert result.warnings[0].render().splitlines()[0] == first_line
        return
    assert isinstance(result, nnshape.NNShapeError), f"the {code} example did not fail"
    assert result.code == code, f"the {code} example fails with {result.code}:\n{result}"
    assert str(result).splitlines()[0] == first_line, "the report changed; update docs/errors.md"


# ----------------------------------------------------------------------------- (c)


@functools.cache
def golden_codes() -> dict[str, list[str]]:
    codes: dict[str, list[str]] = {}
    for spec in sorted(GOLDEN.glob("*.nn")):
        result = outcome(spec.read_bytes(), spec.name)
        assert isinstance(result, nnshape.NNShapeError), f"{spec.name} does not fail"
        codes.setdefault(result.code, []).append(spec.name)
    return codes


IMPORT_FAMILY = "E07"  # `nnshape import` errors: a config.json or a module, never spec text;
# tests/test_import_errors.py reaches every one of them instead


def test_every_spec_error_has_a_golden_spec():
    emitted = {c for c in source_codes() if c.startswith("E") and not c.startswith(IMPORT_FAMILY)}
    uncovered = sorted(emitted - set(golden_codes()) - set(ALLOW_LIST) - set(OPTION_CODES))
    assert not uncovered, f"no golden spec in tests/golden/errors/ gives: {', '.join(uncovered)}"


def test_allow_list_is_short_and_current():
    assert len(ALLOW_LIST) <= 20  # each entry above says why it cannot be a golden spec
    emitted = source_codes()
    assert not set(ALLOW_LIST) - set(emitted), "allow-listed codes that no longer exist"
    assert not set(ALLOW_LIST) & set(golden_codes()), "allow-listed codes that now have a golden spec"


def _deep_defs(depth: int = 99, nest: int = 5) -> str:
    lines = []
    for i in range(depth):
        lines.append(f"def f{i}():")
        lines.extend(" " * (4 + j) + "residual:" for j in range(nest))
        lines.append(" " * (4 + nest) + (f"f{i + 1}" if i + 1 < depth else "relu"))
    return "\n".join(lines + ["input 16", "f0", ""])


def _verify(spec: str, **kw):
    return nnshape.verify(Source.from_bytes("example.nn", spec.encode()), **kw)


REACH = {
    "E0001": lambda tmp: Source.from_path(tmp / "missing.nn"),
    "E0002": lambda tmp: outcome(b"input 16\nlinear 8 \xff\n"),
    "E0003": lambda tmp: outcome(b"#" * (MAX_SPEC_BYTES + 1)),
    "E0509": lambda tmp: outcome(b"input 16\n# " + b"x" * 100_001 + b"\n"),
    "E0505": lambda tmp: outcome(_deep_defs().encode()),
    "E0320": lambda tmp: nnshape.summarize("input 16\nrelu\n", batch=0),
    "E0321": lambda tmp: _verify("input 16\nrelu\n", device="tpu"),
    "E0508": lambda tmp: _verify("input 3x8x8\nrepeat 20000:\n    relu\n", device="meta"),
    "E0316": lambda tmp: _export("input 16\nrelu\n", class_name="torch"),
    "E0330": lambda tmp: _export("input 16\nrelu\n", twins="inline"),
    "E0603": lambda tmp: _export("input 4\nrepeat 3000:\n    repeat 100:\n        linear 4\n"),
    "E0530": lambda tmp: nnshape.summarize("input 16\nrelu\n", zero=5),
    "E0531": lambda tmp: nnshape.summarize("input 16\nrelu\n", gpu="h10"),
    "E0532": lambda tmp: nnshape.summarize("input (L, 16)\nlinear 8\n", dp=2),
    "E0533": lambda tmp: nnshape.summarize("input 16\nlinear 8\n", pp=2),
    "E0640": lambda tmp: _distributed("input 16\nlinear 8\n", tp=2, zero=1),
    "E0004": lambda tmp: nnshape.summarize(b"input 16\nrelu\n"),
    "E0005": lambda tmp: nnshape.summarize("input (L, 16)\nrelu\n", bindings=["L"]),
}


def _distributed(spec: str, **options):
    from nnshape.planning import make_parallel
    from nnshape.verifier.distributed import run_distributed

    return run_distributed(Source("example.nn", spec), make_parallel(**options))


def _export(spec: str, **kw):
    from nnshape.verifier import analyze_spec
    from nnshape.verifier.export import export_source

    return export_source(*analyze_spec(spec), **kw)


@pytest.mark.parametrize("code", sorted(REACH))
def test_allow_listed_codes_are_reachable(code, tmp_path):
    if code in ("E0321", "E0508"):
        pytest.importorskip("torch")
    try:
        result = REACH[code](tmp_path)
    except nnshape.NNShapeError as err:
        result = err
    assert isinstance(result, nnshape.NNShapeError), f"{code}: no error"
    assert result.code == code, str(result)
    str(result)  # renders


def test_torch_missing_is_E0601(monkeypatch):
    from nnshape.verifier import runner

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(nnshape.NNShapeError) as info:
        runner.import_torch()
    assert info.value.code == "E0601"


def test_every_direct_raise_uses_its_familys_class():
    """`except SpecShapeError` must catch exactly the E04xx codes (and so on for each family)."""
    import ast

    family = {"E00": "SpecReadError", "E01": "SpecSyntaxError", "E02": "SpecNameError",
              "E03": "SpecArgumentError", "E04": "SpecShapeError", "E05": "SpecLimitError"}
    wrong = []
    for path in sorted(Path(nnshape.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("Spec"):
                for kw in node.keywords:
                    if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                        want = family.get(kw.value.value[:3])
                        if want and want != node.func.id:
                            wrong.append(f"{path.name}:{node.lineno}: {node.func.id} with {kw.value.value}")
    assert wrong == []
