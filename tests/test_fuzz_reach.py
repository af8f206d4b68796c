"""Fuzzing that gets past the lexer (issue 11, "Tests that prove it").

tests/test_fuzz.py's random text, bytes and token soup stop 86-100 % of their inputs in the lexer
or the parser (E00xx/E01xx), so the analyzer rarely sees big numbers or deep chains. Here:

- ``analyzer_specs``: statements that parse, whose numbers and expressions are hostile (4,400-digit
  literals, 2**63, 1,500 unary minuses, 600 ``**`` in a row, 5,000-term sums, 300 nested
  brackets, huge repeat counts, def calls nested past the limit). Most reach the analysis;
  ``test_generated_specs_reach_the_analyzer`` holds the share up.
- every error is located: ``<file>:LINE:COL: error[EXXXX]`` with a span inside the text.
- the CLI, in process as ``nnshape`` runs it (``cli.run``: the safe streams, the exit statuses):
  every subcommand on generated specs with hostile file names, ``--set`` values, budget files,
  ``git:`` arguments and ``--annotate github``; exit 0/1/2, a located message for a spec error,
  no raw control character, no injected workflow command, no traceback, no file written
  outside the folder; what ``export`` writes compiles and holds no spec text as code.

Work, not seconds, bounds each case (helpers.bounded); a hang shows as the bound passed.
"""

from __future__ import annotations

import ast
import os
import random
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnshape
from nnshape.source import Source

from helpers import bounded

SCALE = int(os.environ.get("NNSHAPE_FUZZ_EXAMPLES", "10000"))
STEP_BOUND = 60_000_000  # as tests/test_fuzz.py: the costliest spec the limits allow takes ~22 M calls
LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error\[(?P<code>E\d{4})\]")
# raw characters that act on a terminal or a log (written out here, not taken from nnshape.safetext)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
INJECTED = re.compile(r"^::(add-mask|error::INJECTED|set-output|stop-commands|warning::INJECTED)", re.M)


def fuzz_settings(share: float, floor: int = 1):
    return settings(max_examples=max(floor, int(SCALE * share)), deadline=None, suppress_health_check=list(HealthCheck), database=None)


# ------------------------------------------------------------------------------ the generator

HUGE = ["9" * 4400, "9" * 30, str(2**63), str(2**63 - 1), "10**30", "2**64", "2**62", "10**4400"]
SMALL = ["1", "2", "3", "4", "8", "16", "0", "-1"]
NAMES = ["L", "D", "N", "x", "y"]


def expression(rnd: random.Random, depth: int = 0) -> str:
    """An expression that parses (mostly): hostile in size or depth, not in syntax."""
    roll = rnd.random()
    if depth > 3 or roll < 0.35:
        return rnd.choice(SMALL + NAMES) if rnd.random() < 0.7 else rnd.choice(HUGE)
    if roll < 0.45:
        return "-" * rnd.choice([1, 2, 99, 100, 101, 1500]) + expression(rnd, depth + 1)
    if roll < 0.55:
        return "**".join([rnd.choice(["1", "2", "L"])] * rnd.choice([2, 3, 50, 99, 101, 600]))
    if roll < 0.65:
        return "+".join([rnd.choice(["1", "L", "x"])] * rnd.choice([2, 10, 1000, 5000]))
    if roll < 0.75:
        n = rnd.choice([1, 5, 99, 100, 101, 300])
        return "(" * n + expression(rnd, depth + 1) + ")" * n
    if roll < 0.85:
        return f"({expression(rnd, depth + 1)})**{rnd.choice(['2', '8', '64', '65', '1000', 'L'])}"
    op = rnd.choice(["+", "-", "*", "//", "%", "*", "*"])
    return f"{expression(rnd, depth + 1)} {op} {expression(rnd, depth + 1)}"


def size(rnd: random.Random) -> str:
    return rnd.choice(SMALL[:6]) if rnd.random() < 0.6 else f"({expression(rnd)})"


def layer(rnd: random.Random, rank: int) -> str:
    if rank == 1:
        choice = rnd.choice(["linear", "linear", "relu", "layernorm", "dropout", "embedding", "reshape"])
    else:
        choice = rnd.choice(["conv2d", "conv2d", "maxpool2d", "relu", "flatten", "batchnorm2d", "linear"])
    return {
        "linear": f"linear {size(rnd)}",
        "relu": "relu",
        "layernorm": "layernorm",
        "dropout": "dropout 0.1",
        "embedding": f"embedding {size(rnd)} {size(rnd)}",
        "reshape": f"reshape ({size(rnd)}, -1)",
        "conv2d": f"conv2d {size(rnd)} k{rnd.choice(['1', '3', '9' * 30])} p{rnd.choice(['0', '1'])}",
        "maxpool2d": f"maxpool2d {rnd.choice(['2', '3', '9' * 25])}",
        "flatten": "flatten",
        "batchnorm2d": "batchnorm2d",
    }[choice]


def body(rnd: random.Random, rank: int, indent: int, depth: int = 0) -> list[str]:
    pad = "    " * indent
    lines: list[str] = []
    for _ in range(rnd.randint(1, 4)):
        roll = rnd.random()
        if roll < 0.15 and depth < 3:
            count = rnd.choice(["2", "3", "100", "10**9", "9" * 4400, "L", "(2**63)", expression(rnd)])
            lines.append(f"{pad}repeat {count}:")
            lines += body(rnd, rank, indent + 1, depth + 1)
        elif roll < 0.25 and depth < 3:
            lines.append(f"{pad}residual:")
            lines += body(rnd, rank, indent + 1, depth + 1)
        elif roll < 0.35:
            lines.append(f"{pad}let {rnd.choice(['x', 'y'])} = {expression(rnd)}")
        else:
            lines.append(pad + layer(rnd, rank))
    return lines


def analyzer_spec(rnd: random.Random) -> str:
    """One spec: an input of rank 1 or 3 with hostile sizes, then layers, lets, repeats, defs."""
    lines: list[str] = []
    if rnd.random() < 0.2:  # def calls nested: up to past MAX_CALL_DEPTH (100)
        depth = rnd.choice([2, 10, 99, 101, 150])
        lines += [f"def f{i}(n):\n    f{i + 1} n" for i in range(depth)] + [f"def f{depth}(n):\n    linear n"]
        lines += ["input 4", f"f0 {size(rnd)}"]
        return "\n".join(lines) + "\n"
    rank = rnd.choice([1, 3])
    if rnd.random() < 0.3:
        lines.append(f"let x = {expression(rnd)}")
    dims = [size(rnd) for _ in range(rank)]
    lines.append("input " + ("x".join(dims) if all(d.isdigit() for d in dims) else "(" + ", ".join(dims) + ")"))
    lines += body(rnd, rank, 0)
    return "\n".join(lines) + "\n"


analyzer_specs = st.randoms(use_true_random=False).map(analyzer_spec)


# ------------------------------------------------------------------------------ checks


def located(err: nnshape.NNShapeError, text: str, name: str = "<fuzz>") -> None:
    """A spec error names its file, line and column (inside the text) and a documented-form code."""
    report = str(err)
    match = LOCATED.match(report)
    assert match, report[:300]
    assert match["file"] == name
    assert re.fullmatch(r"E\d{4}", err.code)
    assert err.span is not None
    lines = text.count("\n") + 1
    assert 1 <= err.span.line <= lines and err.span.col >= 1, (err.span, lines)
    assert (int(match["line"]), int(match["col"])) == (err.span.line, err.span.col)


def analyze(text: str):
    try:
        return bounded(lambda: nnshape.summarize(Source("<fuzz>", text)), STEP_BOUND)
    except nnshape.NNShapeError as err:
        located(err, text)
        return err


@fuzz_settings(0.03)
@given(analyzer_specs)
def test_hostile_numbers_and_chains_are_summaries_or_located_errors(text):
    analyze(text)


def stage(result) -> str:
    if isinstance(result, nnshape.Summary):
        return "summary"
    return "read/syntax" if result.code[:3] in ("E00", "E01") else "analysis"


def test_generated_specs_reach_the_analyzer():
    """At least 60 % of the generated specs get past the lexer and parser (test_fuzz's generators:
    0-11 %), and some come out as summaries. A fixed seed: the share is a property of the generator."""
    rnd = random.Random(11)
    stages = [stage(analyze(analyzer_spec(rnd))) for _ in range(150)]
    reached = sum(s != "read/syntax" for s in stages) / len(stages)
    assert reached >= 0.6, stages
    assert stages.count("summary") >= 10, stages
    assert stages.count("analysis") >= 30, stages


# ------------------------------------------------------------------------------ the CLI in process


@contextmanager
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    before = os.getcwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(before)


def run_cli(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    """``nnshape ARGS`` as the console script runs it (nnshape.cli.run: safe streams, one-line
    internal errors), inside CliRunner's isolated streams."""
    from nnshape.cli import run

    runner = CliRunner()
    with runner.isolation(input=stdin, env={"NO_COLOR": "1", "GITHUB_ACTIONS": None}) as streams:
        old_argv = sys.argv
        sys.argv = ["nnshape", *args]
        try:
            run()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        finally:
            sys.argv = old_argv
            sys.stdout.flush(), sys.stderr.flush()
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def clean(code: int, out: str, err: str, spec_error_possible: bool = True) -> None:
    for text in (out, err):
        assert not CONTROL.search(text), repr(text[:400])
        assert not INJECTED.search(text), text[:400]
        assert "Traceback" not in text and "internal error" not in text, text[:400]
    assert code in (0, 1, 2), (code, err[:400])
    if code == 1 and spec_error_possible and "error[" in err:
        first = next(line for line in err.splitlines() if "error[" in line)
        # FILE:LINE:COL for what is in a spec; FILE alone for reading it (E00xx: a `git:` name that is no blob)
        assert re.search(r":\d+:\d+: error\[E\d{4}\]|: error\[E00\d\d\]", first), first


# file names: every character a file system allows (not / or NUL), controls and bidi included
FILE_CHARS = st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",))
file_names = st.text(FILE_CHARS, min_size=1, max_size=24).filter(lambda n: n not in (".", "..") and len(n.encode()) <= 200).map(lambda n: n + ".nn")
HOSTILE_NAMES = ["a\n::add-mask::SECRET\n::error::INJECTED.nn", "x\x1b]0;PWNED\x07\r\x1b[2J.nn", "evil\u202egnp.nn", "a`b``c.nn",
                 'x""";import os;os.system("touch PWNED");"""y.nn', "-n.nn", "--help.nn", "git:HEAD:x.nn", "%0A::warning::INJECTED.nn"]
names = st.one_of(st.sampled_from(HOSTILE_NAMES), file_names)
GOOD = "input 3x8x8\nconv2d 4 k3\nrelu\nflatten\nlinear 5\n"
spec_texts = st.one_of(st.just(GOOD), analyzer_specs.filter(lambda t: len(t) < 20_000),
                       st.sampled_from(["input 3\nbogus\n", "input 3 'a\x1b]0;PWNED\x07'\n", "input 3\nlinear 4 name=a\u202eb\n",
                                        "input (L, 4)\nlinear 4\n", "input 3\n\x1b[2J::error::INJECTED\n"]))
COMMANDS = [
    ["summary"], ["summary", "--format", "json"], ["summary", "--format", "markdown"], ["summary", "--format", "csv"],
    ["check"], ["check", "--annotate", "github"], ["check", "--format", "json"], ["explain"], ["draw", "-o", "net.dot"],
    ["draw", "-f", "svg", "-o", "-"], ["import", "hf"], ["export", "-o", "out.py"], ["report", "-o", "report.html"], ["diff", "base.nn"],
    ["diff", "-f", "markdown", "base.nn"],
]


def write(path: Path, text: str | bytes) -> None:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))


def check_export(path: Path) -> None:
    """What export wrote parses, and its only strings are docstrings and names the code needs."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):  # no call reaches os/eval/exec/__import__/system from the spec
        if isinstance(node, ast.Name):
            assert node.id not in ("eval", "exec", "__import__", "os", "system", "compile", "open"), node.id


def cli_args(command: list[str], name: str) -> list[str]:
    positional = [a for a in command[1:] if a == "base.nn"]  # diff OLD NEW: the hostile file is NEW
    options = [a for a in command[1:] if a != "base.nn"]
    return [command[0], *options, "--", *positional, name]  # a name may start with '-'


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_the_harness_runs_each_command(tmp_path_factory, command):
    """The fuzz below is worth something only if a good spec under a hostile name gets through."""
    with folder(tmp_path_factory) as here:
        write(here / "base.nn", GOOD)
        write(here / HOSTILE_NAMES[0], GOOD)
        code, out, err = run_cli(cli_args(command, HOSTILE_NAMES[0]))
        clean(code, out, err)
        assert code == (1 if command[0] == "import" else 0), err  # a spec is no config.json: E0701, located
        assert out or err


@fuzz_settings(0.004, floor=25)
@given(name=names, text=spec_texts, command=st.sampled_from(COMMANDS))
def test_every_subcommand_on_hostile_files(tmp_path_factory, name, text, command):
    with folder(tmp_path_factory) as here:
        write(here / "base.nn", GOOD)
        write(here / name, text)
        before = set(os.listdir(here))
        code, out, err = bounded(lambda: run_cli(cli_args(command, name)), STEP_BOUND * 2)
        clean(code, out, err)
        written = set(os.listdir(here)) - before
        assert written <= {"out.py", "report.html", "net.dot"}, written
        if "out.py" in written:
            check_export(here / "out.py")
        assert not (here / "PWNED").exists()


set_values = st.one_of(st.sampled_from(["9" * 4400, "\u0663", "2**63", "-" * 2000 + "1", "'\x1b[2J'", "1\n::error::INJECTED", "L*L", "(" * 200 + "1" + ")" * 200]),
                       st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30), st.integers().map(str))
set_names = st.one_of(st.sampled_from(["L", "D", "x", "a b", "\x1b", "__class__", "9", ""]), st.text(max_size=8))


@fuzz_settings(0.003, floor=25)
@given(key=set_names, value=set_values, command=st.sampled_from(["summary", "check", "explain", "export"]))
def test_set_values(tmp_path_factory, key, value, command):
    if "\x00" in key or "\x00" in value:  # argv cannot hold NUL
        return
    with folder(tmp_path_factory) as here:
        write(here / "s.nn", "input (L, D)\nlinear D\nlinear 4\n")
        args = [command, "s.nn", "--set", f"{key}={value}", "--set", "D=4"] + (["-o", "out.py"] if command == "export" else [])
        code, out, err = bounded(lambda: run_cli(args), STEP_BOUND)
        clean(code, out, err)


budget_values = st.one_of(st.sampled_from(['"1M"', '"10 GB"', "9" * 5000, '"\xff"', "-1", '"1e400"', "inf", '"\x1b[2J"', "[1, 2]", "{a = 1}"]),
                          st.integers().map(str), st.text(max_size=12).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'))
budget_keys = st.sampled_from(["max-params", "max-macs", "max-memory", "max-activations", "set", "bogus", "max-params-delta"])
patterns = st.one_of(st.sampled_from(["*.nn", "**/*.nn", "/proc/self/environ", "../outside.nn", "[z-a].nn", "*a" * 40 + "*b", "~/x.nn",
                                      "s.nn", "C:/x.nn", "[!]", "\x1b.nn"]),
                     st.text(st.characters(blacklist_characters="\x00\"\\", blacklist_categories=("Cs", "Cc")), max_size=20))


@fuzz_settings(0.003, floor=25)
@given(pattern=patterns, key=budget_keys, value=budget_values, raw=st.one_of(st.none(), st.binary(max_size=60)))
def test_budget_files(tmp_path_factory, pattern, key, value, raw):
    with folder(tmp_path_factory) as here:
        (here / "proj").mkdir()
        write(here / "outside.nn", "input 3\nSECRET_OUTSIDE\n")
        write(here / "proj" / "s.nn", GOOD)
        body = raw if raw is not None else f'["{pattern}"]\n{key} = {value}\n'.encode("utf-8", "surrogatepass")
        write(here / "proj" / "b.toml", body)
        code, out, err = bounded(lambda: run_cli(["check", "--budget", "proj/b.toml", "--annotate", "github"]), STEP_BOUND)
        clean(code, out, err)
        assert "SECRET_OUTSIDE" not in out + err
        if code == 2:  # the only usage error here is the budget file's: it is named (with line:col for its content)
            assert "b.toml" in err, err[:300]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("repo")
    env = {**os.environ, "GIT_AUTHOR_NAME": "p", "GIT_AUTHOR_EMAIL": "p@p", "GIT_COMMITTER_NAME": "p", "GIT_COMMITTER_EMAIL": "p@p"}
    for args in (["init", "-q"], ["add", "net.nn"], ["commit", "-qm", "x"]):
        if args[0] == "add":
            write(path / "net.nn", GOOD)
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, env=env)
    return path


revisions = st.one_of(st.sampled_from(["--output=PWNED", "-oPWNED", "--exec-path=.", "HEAD", "HEAD~9", "-p", "--", "@{-1}", ":/x", "HEAD^{tree}",
                                       "$(touch PWNED)", "`touch PWNED`", ";touch PWNED", "\x1b[2J"]),
                      st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=16))
git_paths = st.one_of(st.sampled_from(["net.nn", "", "--output=PWNED", "../x", "/etc/passwd", "a\nb"]), st.text(max_size=10))


@fuzz_settings(0.002, floor=20)
@given(rev=revisions, path=git_paths)
def test_git_arguments(repo, rev, path):
    if "\x00" in rev + path:
        return
    before = os.getcwd()
    os.chdir(repo)
    try:
        code, out, err = run_cli(["diff", f"git:{rev}:{path}", "net.nn"])
    finally:
        os.chdir(before)
    clean(code, out, err, spec_error_possible=False)
    assert not any(p.name.startswith("PWNED") for p in repo.iterdir())
    assert not any(p.name.startswith("PWNED") for p in Path(before).iterdir())


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_verify_and_layers_with_hostile_names(tmp_path_factory, name):
    """verify (on meta: no memory) and layers: the remaining subcommands, with the same names."""
    pytest.importorskip("torch")
    with folder(tmp_path_factory) as here:
        for text in (GOOD, "input 3\nbogus\n"):
            write(here / name, text)
            clean(*run_cli(["verify", "--device", "meta", "--", name]))
        clean(*run_cli(["layers", name]))
        clean(*run_cli(["layers", "--", name[:-3]]))
        assert sorted(os.listdir(here)) == [name]
