"""Hostile and broken specs: whatever the input, a Summary or an nnshape error — never a crash,
never a hang, never code execution.

Three generators: random text and bytes, token soup built from the language's own words, and
mutations of the valid examples. CI runs about 10,000 cases in all; for a long local campaign:

    NNSHAPE_FUZZ_EXAMPLES=200000 python -m pytest tests/test_fuzz.py -q
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnshape
from nnshape import registry
from nnshape.syntax import STATEMENT_KEYWORDS
from nnshape.source import Source

from helpers import bounded
from test_fuzz_reach import located

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.nn"))
SCALE = int(os.environ.get("NNSHAPE_FUZZ_EXAMPLES", "10000"))
# Work, not seconds, bounds one spec (helpers.bounded counts its Python calls). The costliest spec
# the limits allow, a shape-changing repeat unrolled to MAX_UNROLLED_ROWS, takes ~22 M; resnet50
# takes 45 k. A spec past the bound is a hang.
STEP_BOUND = 60_000_000


def fuzz_settings(share: float):
    return settings(
        max_examples=max(1, int(SCALE * share)),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )


def outcome(data: bytes | str, steps: int | None = STEP_BOUND):
    """Analyze; return the Summary or the NNShapeError. Anything else escapes and fails the test,
    and so does a spec that costs more than ``steps`` calls (None: the test bounds it otherwise)."""
    def analyze():
        source = Source.from_bytes("<fuzz>", data) if isinstance(data, bytes) else Source("<fuzz>", data)
        return nnshape.summarize(source)

    try:
        result = bounded(analyze, steps) if steps is not None else analyze()
    except nnshape.NNShapeError as err:
        # located: `<fuzz>:LINE:COL: error[EXXXX]`, the span inside the text (rendering must not crash either)
        located(err, data if isinstance(data, str) else data.decode("utf-8", "replace"))
        result = err
    return result


@fuzz_settings(0.3)
@given(st.binary(max_size=400))
def test_random_bytes(data):
    outcome(data)


@fuzz_settings(0.1)
@given(st.text(max_size=300))
def test_random_text(text):
    outcome(text)


KINDS = registry.all_names()
KEYS = sorted({k for kind in registry.all_kinds() for a in kind.args for k in a.keys})
WORDS = list(STATEMENT_KEYWORDS) + ["as", "true", "false", "none", "dtype", "int64", "name", "trainable", "branch", "memory"]
PIECES = ["=", "(", ")", ",", ":", "+", "-", "*", "/", "//", "%", "**", "x", "#", "'same'", "\n", "\n    ", "\n        ", " "]
NUMBERS = ["0", "-1", "1", "2", "3", "7", "64", "224", "0.5", "1e-5", "10**30", "2**63", "3x224x224", "16x5x5", "1x1"]

token = st.one_of(
    st.sampled_from(KINDS),
    st.sampled_from(KEYS).map(lambda k: k + "="),
    st.sampled_from(WORDS),
    st.sampled_from(PIECES),
    st.sampled_from(NUMBERS),
    st.from_regex(r"[a-z]\d", fullmatch=True),
)


@fuzz_settings(0.3)
@given(st.lists(token, max_size=40), st.sampled_from(["input 3x32x32\n", "input 64\n", "input (L, 16)\n", "input ids 12 dtype=int64\n", ""]))
def test_token_soup(tokens, prefix):
    outcome(prefix + " ".join(tokens))


REPLACEMENTS = ["0", "-1", "10**30", "2.5", "L", "x", "'same'", "true", "3x3", "(1, 2, 3)"]


@st.composite
def mutated_example(draw):
    lines = draw(st.sampled_from(EXAMPLES)).read_text().splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "dedent", "number", "name"]))
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "indent":
            lines[i] = "    " + lines[i]
        elif action == "dedent":
            lines[i] = lines[i][min(4, len(lines[i]) - len(lines[i].lstrip(" "))):]
        elif action == "number":
            numbers = list(re.finditer(r"\d+", lines[i]))
            if numbers:
                m = draw(st.sampled_from(numbers))
                lines[i] = lines[i][: m.start()] + draw(st.sampled_from(REPLACEMENTS)) + lines[i][m.end():]
        else:
            words = list(re.finditer(r"[A-Za-z_]\w*", lines[i]))
            if words:
                m = draw(st.sampled_from(words))
                lines[i] = lines[i][: m.start()] + draw(st.sampled_from(KINDS + WORDS)) + lines[i][m.end():]
    return "\n".join(lines) + "\n"


@fuzz_settings(0.3)
@given(mutated_example())
def test_mutated_examples(text):
    outcome(text)


def test_mutations_still_often_succeed():
    """The mutation generator is not just producing errors: the unmutated examples all pass."""
    for path in EXAMPLES:
        assert isinstance(outcome(path.read_text()), nnshape.Summary)


# ------------------------------------------------------------------------------ no code execution

HOSTILE = [
    "let x = __import__('os')\ninput 3\nlinear 2\n",
    "input 3\nlinear __builtins__\n",
    "input 3\nlinear eval\n",
    "input 3\nlinear (lambda: 1)\n",
    "input 3\nlinear open('/etc/passwd')\n",
    "input 3\ngelu approximate=__import__\n",
    "input 3\nlinear 2 name=__class__\n",
    "input 3\nlinear ().__class__\n",
    "input 3\nlinear 'a'.join\n",
]


def test_spec_cannot_reach_python(tmp_path, monkeypatch):
    marker = tmp_path / "touched"
    monkeypatch.chdir(tmp_path)
    for text in HOSTILE + [f"input 3\nlinear open('{marker}', 'w')\n"]:
        result = outcome(text)
        if isinstance(result, nnshape.Summary):
            assert result.output_shape[-1] in (2, 3)
    assert not marker.exists()


def test_source_has_no_dynamic_evaluation():
    """No eval/exec/pickle/dynamic imports driven by spec content anywhere in the package."""
    src = Path(nnshape.__file__).parent
    forbidden = re.compile(r"(?<![.\w])(?<!def )(eval|exec|compile|__import__)\(|\bpickle\b|\bmarshal\b|\bos\.system\b|\bsubprocess\b")
    offenders = []
    for path in src.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if forbidden.search(code) and "git show" not in line:
                offenders.append(f"{path.relative_to(src)}:{number}: {line.strip()}")
    # `git show REV:path` (nnshape diff) runs git on a path the user names on the command line,
    # never on spec content. pictures/dot.py runs Graphviz as `dot -Tsvg|png|pdf` (a fixed argument
    # list, no shell): spec content reaches it only on stdin, as escaped DOT labels. These are the
    # allowed subprocesses.
    allowed = [o for o in offenders if not o.startswith(("compare.py", "commands/diff.py", "pictures/dot.py"))]
    assert allowed == []


# ------------------------------------------------------------------------------ resource bounds


def test_huge_collapsed_repeats_are_not_unrolled():
    s = nnshape.summarize("input 16\nrepeat 10**9:\n    repeat 10**9:\n        relu\n")
    assert len(s.layers) == 3  # two repeat rows and one relu row standing for 10**18
    assert s.layers[-1].repeat == 10**18


def test_unrolling_stops_with_a_located_error():
    # channels double each pass: the shape changes every time, so this cannot collapse
    text = "input 1x4x4\nrepeat 10**6:\n    concat:\n        branch: identity\n        branch: identity\n"
    err = outcome(text)
    assert isinstance(err, nnshape.NNShapeError) and err.code.startswith("E05") and err.line is not None


def test_deep_nesting_and_deep_calls_are_limits():
    deep = "input 4\n" + "".join("    " * i + "block b%d:\n" % i for i in range(80)) + "    " * 80 + "relu\n"
    assert isinstance(outcome(deep), nnshape.SpecLimitError)
    calls = "".join(f"def f{i}():\n    f{i + 1}\n" for i in range(150)) + "def f150():\n    relu\ninput 4\nf0\n"
    assert isinstance(outcome(calls), nnshape.SpecLimitError)


def test_dimensions_and_totals_do_not_overflow():
    big = outcome(f"input {2**40}\nlinear {2**40}\n")
    assert isinstance(big, nnshape.Summary) and big.total_params == 2**80 + 2**40  # Python ints: no overflow
    too_big = outcome("input 3x8x8\nconv2d 2**63 k1\n")
    assert isinstance(too_big, nnshape.SpecLimitError)


def test_a_megabyte_of_layers():
    import random

    rng = random.Random(1)
    lines, size = ["input 64"], 9
    while size < 1_000_000:
        lines.append(rng.choice(["linear 64", "relu", "layernorm", "dropout 0.1", "gelu", "linear 64 bias=false"]))
        size += len(lines[-1]) + 1
    s = nnshape.summarize("\n".join(lines))  # its time is measured by benchmarks/run.py, not here
    assert len(s.layers) == len(lines) - 1


def test_growing_unrolled_repeat_stops_at_the_limit():
    # found by atheris (a 10 s timeout): a 1x1 conv with padding grows H and W on every pass
    err = outcome("input 3x8x8\nrepeat 250257:\n    conv2d 8 k1 p1\n    relu\n", steps=None)
    assert isinstance(err, nnshape.SpecLimitError) and err.code == "E0507" and err.line == 2


def test_too_many_statements_stop_the_reading():
    """A spec past the statement limit fails while it is read, at the first statement too many."""
    from nnshape.lexer import MAX_STATEMENTS

    text = "input 8\n" + "# a comment line is no statement\n" * 5 + "relu\n" * MAX_STATEMENTS
    err = outcome(text, steps=None)
    assert isinstance(err, nnshape.SpecLimitError) and err.code == "E0507"
    assert err.line == MAX_STATEMENTS + 6  # input, 5 comment lines, then statement 200,001
    from nnshape.lexer import tokenize  # the boundary itself: exactly MAX_STATEMENTS are read

    assert len(tokenize(Source("<fuzz>", "input 8\n" + "relu\n" * (MAX_STATEMENTS - 1)))) == MAX_STATEMENTS


def test_symbolic_sizes_stay_small():
    """Multiplying sums multiplies their terms: a bounded polynomial, a located error past it."""
    total = "+".join("abcdefghij")
    product = "*".join([f"({total})"] * 5)  # 2,002 terms
    err = outcome(f"# sizes\ninput ({product}, 4)\nlinear 4\n")
    assert isinstance(err, nnshape.SpecLimitError) and err.code == "E0510" and (err.line, err.col) == (2, 8 + 1)  # the product, after "input ("
    wide = "+".join("abcdefghijklmnopqrst")
    err = outcome(f"input (({wide})*({wide}), {wide})\nrelu\n")  # the input's element count
    assert isinstance(err, nnshape.SpecLimitError) and err.code == "E0510" and err.line == 1
    assert isinstance(outcome(f"input ({total}, 8)\nlinear 4\n"), nnshape.Summary)


def test_long_names_cannot_multiply_into_gigabytes():
    """A 90 kB spec whose def holds a 50,000-character name, called 20,000 times, once built
    2 GB of paths and labels (13.8 GB of RSS for its JSON). The rows' text is bounded now."""
    from nnshape.limits import MAX_ROW_TEXT

    name = "n" * 50_000
    err = outcome("input 8\ndef f():\n    relu name=" + name + "\n" + "f\n" * 20_000, steps=None)
    assert isinstance(err, nnshape.SpecLimitError) and err.code == "E0507" and err.line == 3
    assert "paths, labels and symbolic sizes" in str(err)
    few = outcome("input 8\ndef f():\n    relu name=" + name + "\n" + "f\n" * (MAX_ROW_TEXT // 200_000), steps=None)
    assert isinstance(few, nnshape.Summary)


def test_rank_is_bounded():
    """A 160 kB spec with a 30,000-dimension input and 20,000 layers took 100 s and 7 GB (every
    row prints its shapes). Ranks over MAX_RANK are refused where they appear."""
    from nnshape.limits import MAX_RANK

    err = outcome("input " + "x".join(["1"] * 30_000) + "\n" + "relu\n" * 20_000, steps=None)
    assert isinstance(err, nnshape.SpecLimitError) and err.code == "E0506" and err.line == 1
    err = outcome("input 2x3\nrepeat 40:\n    unflatten 1 (1, -1)\n")
    assert isinstance(err, nnshape.SpecLimitError) and err.code == "E0506" and err.line == 3
    assert "33 dimensions" in str(err)
    assert isinstance(outcome("input " + "x".join(["1"] * (MAX_RANK - 1)) + "\nrelu\n"), nnshape.Summary)


def test_long_size_symbols_cannot_multiply_into_gigabytes():
    """A symbol of the input's shape prints in every row's shapes, MACs and bytes: 5,000
    characters on 20,000 rows took 1.2 GB. The rows' text bound counts symbolic sizes too."""
    symbol = "s" * 5_000
    err = outcome(f"input ({symbol}, 8)\n" + "linear 8\n" * 20_000, steps=None)
    assert isinstance(err, nnshape.SpecLimitError) and err.code == "E0507" and err.line > 1
    assert isinstance(outcome(f"input ({symbol}, 8)\n" + "linear 8\n" * 100, steps=None), nnshape.Summary)
    assert isinstance(outcome("input (L, 8)\n" + "linear 8\n" * 20_000, steps=None), nnshape.Summary)


def test_suggestions_compare_a_bounded_pool(monkeypatch):
    """20 misspelt kinds among 99,000 defs took 11 s of difflib; each suggestion now compares
    at most MAX_COMPARED candidates (those with the word's first letter and about its length)."""
    import difflib

    from nnshape import suggest

    compared = []
    real = difflib.get_close_matches
    monkeypatch.setattr(difflib, "get_close_matches", lambda word, pool, **kw: compared.append(len(pool)) or real(word, pool, **kw))
    names = [f"blk{i}" for i in range(99_000)]
    assert suggest.did_you_mean("blk0x", names) == "did you mean `blk0`, `blk10` or `blk140`?"
    assert suggest.did_you_mean("relx", ["relu", "gelu"]) == "did you mean `relu`?"
    assert compared[0] == suggest.MAX_COMPARED and compared[1] == 2
