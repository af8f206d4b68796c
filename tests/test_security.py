"""Issue 11, closed to attack: what a hostile file name, spec, budget file or `git:` argument can
make nnshape do. Each test failed on the commit before the fix (e26cdd0); `fuzz/probes.py` runs
the same attacks from outside, under `timeout` and an address-space limit.

The tests bound work (steps, bytes, calls), never seconds: a hang shows as a subprocess timeout
far above any honest run, not as a timing assertion.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.cli import main
from nnshape.source import Source

ROOT = Path(__file__).resolve().parent.parent
GOOD = "input 3x8x8\nconv2d 4 k3\nrelu\n"
# raw characters that act on a terminal or a log (written out here, not taken from nnshape.safetext)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
INJECTED = re.compile(r"^::(add-mask|error::INJECTED)", re.M)
HANG_GUARD = 120  # seconds: a subprocess still running then is stuck (honest runs take < 2 s)


def cli(*args, cwd=None, input=None, stdin=None, env=None):
    return subprocess.run([sys.executable, "-m", "nnshape", *map(str, args)], cwd=cwd, input=input, stdin=stdin,
                          capture_output=True, text=True, timeout=HANG_GUARD,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})})


def clean(proc) -> None:
    """No raw control character, no injected workflow command, no internal error."""
    for text in (proc.stdout, proc.stderr):
        assert not CONTROL.search(text), repr(text)
        assert not INJECTED.search(text), text
        assert "Traceback" not in text and "internal error" not in text, text
    assert proc.returncode in (0, 1, 2), proc.returncode


# ------------------------------------------------------------------------------ item 3: what is printed


def test_one_line_escapes_controls_newlines_and_bidi():
    from nnshape import safetext

    assert safetext.one_line("a\n::add-mask::S\r\x1b]0;t\x07\u202e\tz") == "a\\n::add-mask::S\\r\\u001b]0;t\\u0007\\u202e\\tz"
    assert safetext.one_line("résumé × 3 — ok") == "résumé × 3 — ok"  # printable non-ASCII stays
    assert safetext.escape("two\nlines\x9b") == "two\nlines\\u009b"


def test_safe_stream_escapes_everything_but_layout_and_keeps_json_valid():
    from nnshape import safetext

    buffer = io.StringIO()
    stream = safetext.SafeStream(buffer)
    value = {"file": "x\x1b[2J\u202e\x85y"}
    stream.write(json.dumps(value, ensure_ascii=False))  # json.dumps leaves C1 and bidi raw
    assert safetext.is_clean(buffer.getvalue())
    assert json.loads(buffer.getvalue()) == value  # \uXXXX is a JSON escape: the same text back
    buffer.seek(0), buffer.truncate()
    with safetext.styles():
        stream.write("\x1b[1mbold\x1b[0m \x1b]0;title\x07\n")
    assert buffer.getvalue() == "\x1b[1mbold\x1b[0m \\u001b]0;title\\u0007\n"  # colours only


def test_cli_output_passes_through_the_safe_stream():
    """main() wraps stdout and stderr itself (CliRunner does not come through run())."""
    result = CliRunner().invoke(main, ["summary", "-"], input="input 3 'a\x1b]0;PWNED\x07'\n")
    assert result.exit_code == 1 and "\x1b" not in result.output and "\\u001b]0;PWNED" in result.output


NEWLINE_NAME = "a\n::add-mask::SECRET\n::error::INJECTED.nn"


@pytest.mark.parametrize("text", [GOOD, "input 3\nconv2d 4 k3\n"])
def test_a_file_name_cannot_inject_workflow_commands(tmp_path, text):
    (tmp_path / NEWLINE_NAME).write_text(text)
    proc = cli("check", "--annotate", "github", NEWLINE_NAME, cwd=tmp_path)
    clean(proc)
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::")]
    for line in annotations:  # our own commands, the file name percent-encoded in them
        assert line.startswith(("::error file=a%0A%3A%3Aadd-mask%3A%3ASECRET%0A%3A%3Aerror%3A%3AINJECTED.nn,", "::warning file=a%0A"))
    assert len(annotations) == (text != GOOD)
    verdict = "ok   " if text == GOOD else "FAIL "
    assert verdict + "a\\n::add-mask::SECRET\\n::error::INJECTED.nn: " in proc.stdout


def test_escape_sequences_in_names_and_strings_are_shown_escaped(tmp_path):
    name = "x\x1b]0;PWNED\x07\r\x1b[2Jy.nn"
    (tmp_path / name).write_text("input 3 'a\x1b]0;PWNED\x07'\n")
    proc = cli("summary", name, cwd=tmp_path)
    clean(proc)
    assert proc.stderr.startswith("x\\u001b]0;PWNED\\u0007\\r\\u001b[2Jy.nn:1:9: error[E0112]")
    assert "found:    ''a\\u001b]0;PWNED\\u0007''" in proc.stderr
    (tmp_path / "evil\u202egnp.nn").write_text(GOOD)
    proc = cli("check", "evil\u202egnp.nn", cwd=tmp_path)
    clean(proc)
    assert "ok   evil\\u202egnp.nn:" in proc.stdout


def test_json_output_stays_valid_with_hostile_names(tmp_path):
    name = "j\x1b\u202e\x85.nn"
    (tmp_path / name).write_text("input 3\nbogus\n")
    proc = cli("check", "--format", "json", name, cwd=tmp_path)
    clean(proc)
    assert json.loads(proc.stdout)["results"][0]["spec"] == name


def test_diff_names_stay_on_their_line(tmp_path):
    (tmp_path / "o\n::error::INJECTED.nn").write_text(GOOD)
    (tmp_path / "n.nn").write_text("input 3x8x8\nconv2d 5 k3\n")
    for fmt in ("table", "markdown", "json"):
        proc = cli("diff", "-f", fmt, "o\n::error::INJECTED.nn", "n.nn", cwd=tmp_path)
        clean(proc)


@pytest.mark.parametrize("args", [["layers", NEWLINE_NAME], ["check", "--budget", NEWLINE_NAME, "g.nn"], ["draw", "-o", NEWLINE_NAME + ".svg", "g.nn"],
                                  ["export", "g.nn", "-o", NEWLINE_NAME + ".py"], ["report", "-o", NEWLINE_NAME + ".html", "g.nn"]],
                         ids=["layers KIND", "check --budget", "draw -o", "export -o", "report -o"])
def test_arguments_echoed_back_stay_on_their_line(tmp_path, args):
    """Not only spec files: a kind name, a budget file's name or an output file's name is echoed
    (`unknown layer kind ...`, `wrote ...`) on one line (found by tests/test_fuzz_reach.py)."""
    (tmp_path / "g.nn").write_text(GOOD)
    proc = cli(*args, cwd=tmp_path)
    clean(proc)
    assert "a\\n::add-mask::SECRET\\n::error::INJECTED" in proc.stdout + proc.stderr


def test_a_backtick_in_a_file_name_stays_inside_its_code_span(tmp_path):
    from markdown_it import MarkdownIt  # rich's own dependency

    from nnshape import safetext
    from nnshape.compare import code_span

    for name in ["a`b.nn", "``x``.nn", "`lead.nn", "p|q.nn", "<img src=x onerror=alert(1)>.nn", "a\nb.nn"]:
        html = MarkdownIt().render(code_span(name))
        code = re.fullmatch(r"<p><code>(.*)</code></p>\n", html, re.S)
        assert code is not None, html
        shown = code.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("\\|", "|")
        assert shown == safetext.one_line(name)
    (tmp_path / "a`b.nn").write_text(GOOD)
    (tmp_path / "n.nn").write_text("input 3x8x8\nconv2d 5 k3\n")
    proc = cli("diff", "-f", "markdown", "a`b.nn", "n.nn", cwd=tmp_path)
    clean(proc)
    assert proc.stdout.startswith("### nnshape diff: ``a`b.nn`` → `n.nn`\n")


# ------------------------------------------------------------------------------ item 7/8: reading


def test_a_fifo_is_refused_without_waiting(tmp_path):
    """Opening a FIFO blocks until a writer comes, so a writer waits here (in a thread) to make the
    old behaviour (read it) fail this test instead of hanging it."""
    import threading

    fifo = tmp_path / "f.nn"
    os.mkfifo(fifo)

    def writer():
        try:
            with open(fifo, "w") as fh:  # blocks until someone opens the FIFO for reading
                fh.write("input 3\nrelu\n")
        except BrokenPipeError:  # pragma: no cover - the reader went away first
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with pytest.raises(nnshape.SpecReadError) as info:
            Source.from_path(fifo)
        assert info.value.code == "E0001" and "a FIFO (named pipe), not a regular file" in info.value.message
    finally:
        release = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so that the writer's open() returns
        thread.join()
        os.close(release)
    proc = cli("summary", "f.nn", cwd=tmp_path)  # nobody writes: the old code waited for ever
    clean(proc)
    assert proc.returncode == 1 and "f.nn: error[E0001]" in proc.stderr


@pytest.mark.parametrize("path, what", [("/dev/zero", "a character device"), (".", "a directory")])
def test_devices_and_folders_are_not_specs(path, what):
    with pytest.raises(nnshape.SpecReadError) as info:
        Source.from_path(path)
    assert what in info.value.message


def test_reading_stops_at_the_size_limit(tmp_path):
    from nnshape import source
    from nnshape.limits import MAX_SPEC_BYTES

    reads = []

    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            reads.append(len(b))
            b[:] = b"#" * len(b)
            return len(b)

    data = source.read_bounded(io.BufferedReader(Endless()))
    assert len(data) == MAX_SPEC_BYTES + 1 and sum(reads) <= MAX_SPEC_BYTES + 1 + 2 * io.DEFAULT_BUFFER_SIZE
    with pytest.raises(nnshape.SpecReadError) as info:
        Source.from_bytes("<stdin>", data)
    assert info.value.code == "E0003" and "more than 16,777,216 bytes" in info.value.message
    big = tmp_path / "big.nn"
    with open(big, "wb") as fh:
        fh.truncate(400_000_000)  # sparse: its size, without the disk
    with pytest.raises(nnshape.SpecReadError) as info:
        Source.from_path(big)
    assert "400,000,000 bytes" in info.value.message


def test_closed_stdin_is_a_read_error():
    proc = subprocess.run([sys.executable, "-m", "nnshape", "summary", "-"], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=HANG_GUARD, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          preexec_fn=lambda: os.close(0))
    clean(proc)
    assert proc.returncode == 1 and proc.stderr.startswith("<stdin>: error[E0001]: cannot read the spec from standard input")


# ------------------------------------------------------------------------------ item 2: git


def _git(cwd, *args, input=None):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, input=input, check=True, capture_output=True, env=env, timeout=HANG_GUARD).stdout


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "net.nn").write_text(GOOD)
    _git(tmp_path, "add", "net.nn")
    _git(tmp_path, "commit", "-qm", "x")
    return tmp_path


@pytest.mark.parametrize("arg", ["git:--output=PWNED:net.nn", "git:--output=PWNED:", "git:-oPWNED:net.nn", "git:--exec-path=.:net.nn"])
def test_a_git_revision_cannot_be_an_option(repo, arg):
    proc = cli("diff", arg, "net.nn", cwd=repo)
    clean(proc)
    assert proc.returncode == 1 and "error[E0001]" in proc.stderr
    assert sorted(p.name for p in repo.iterdir()) == [".git", "net.nn"]  # `git show --output=PWNED:net.nn` wrote 'PWNED:net.nn'


def test_git_blobs_are_read_by_their_revision(repo):
    (repo / "net.nn").write_text("input 3x8x8\nconv2d 5 k3\n")
    proc = cli("diff", "git:HEAD:net.nn", "net.nn", "--format", "json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["old"]["source"] == "git:HEAD:net.nn"
    proc = cli("diff", "git:HEAD:missing.nn", "net.nn", cwd=repo)
    clean(proc)
    assert proc.returncode == 1 and "error[E0001]" in proc.stderr and "missing.nn" in proc.stderr


def test_a_git_blob_over_the_limit_is_refused_unread(repo, monkeypatch):
    from nnshape.commands import diff
    from nnshape.limits import MAX_SPEC_BYTES

    blob = _git(repo, "hash-object", "-w", "--stdin", input=b"#" * (MAX_SPEC_BYTES + 10)).decode().strip()
    _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},big.nn")
    _git(repo, "commit", "-qm", "big")
    monkeypatch.chdir(repo)
    read = []  # the bytes handed to the decoder: `git show` piped all of them (a 400 MB blob: 400 MB)
    real = Source.from_bytes.__func__
    monkeypatch.setattr(Source, "from_bytes", classmethod(lambda cls, name, data, **kw: read.append(len(data)) or real(cls, name, data, **kw)))
    with pytest.raises(nnshape.SpecReadError) as info:
        diff.read_any("git:HEAD:big.nn")
    assert info.value.code == "E0003" and f"{MAX_SPEC_BYTES + 10:,} bytes" in info.value.message
    assert all(n <= MAX_SPEC_BYTES + 1 for n in read), read  # refused by its size, unread
    assert diff.read_any("git:HEAD:net.nn").text == GOOD  # a small one is read


# ------------------------------------------------------------------------------ item 7: no raw exception


@pytest.mark.parametrize("text, code, line", [
    ("input 3\nlinear " + "9" * 4400 + "\n", "E0503", 2),  # int(): ValueError from 4,301 digits
    ("input 3x" + "9" * 4400 + "\n", "E0503", 1),
    ("input 3\nlinear " + "0" * 5000 + "7\n", None, None),  # leading zeros are no size
    ("input 3x8x8\nconv2d 4 k" + "9" * 4400 + "\n", "E0201", 2),  # not a compact form: an undefined name
    ("input 3x8x8\nconv2d 4 k9223372036854775808\n", "E0201", 2),
    ("input 3\nlinear " + "-" * 1000 + "3\n", "E0502", 2),  # RecursionError in the parser
    ("input 3\nlet x = " + "**".join(["1"] * 500) + "\n", "E0502", 2),
    ("input 3\nlet x = " + "+".join(["1"] * 30_000) + "\nlinear x\n", "E0502", 2),  # RecursionError in the evaluator
    ("input 3\nlinear " + "(" * 60 + "-" * 60 + "3" + ")" * 60 + "\n", None, None),
], ids=["literal", "dims", "zeros", "compact", "compact-2**63", "signs", "powers", "sum", "mixed"])
def test_huge_literals_and_deep_expressions_are_located_errors(text, code, line):
    try:
        result = nnshape.summarize(text)
    except nnshape.NNShapeError as err:
        assert (err.code, err.line) == (code, line) and err.col is not None
        return
    assert code is None and result.output_shape[-1] in (3, 7)


def test_expression_depth_boundary():
    from nnshape.limits import MAX_EXPR_DEPTH

    assert nnshape.summarize("input 3\nlinear " + "+" * MAX_EXPR_DEPTH + "3\n").output_shape == (1, 3)
    with pytest.raises(nnshape.SpecLimitError) as info:
        nnshape.summarize("input 3\nlinear " + "+" * (MAX_EXPR_DEPTH + 1) + "3\n")
    assert info.value.code == "E0502"
    assert nnshape.summarize("input 3\nlet x = " + "+".join(["1"] * (MAX_EXPR_DEPTH + 1)) + "\nlinear x\n").output_shape == (1, MAX_EXPR_DEPTH + 1)
    # signs and powers keep Python's meaning
    s = nnshape.summarize("input 3\nlet a = -2**2\nlet b = 2**3**2\nlet c = 2**-1\nlet d = - - 3\nlinear b + a + d name=x\n")
    assert s.output_shape == (1, 512 - 4 + 3)


@pytest.mark.parametrize("value", ["9" * 4400, "+" * 2000 + "1", "1" + "+1" * 3000], ids=["digits", "signs", "sum"])
def test_set_values_cannot_crash_the_cli(tmp_path, value):
    (tmp_path / "n.nn").write_text("input (L, 3)\nrelu\n")
    proc = cli("summary", "n.nn", "--set", "L=" + value, cwd=tmp_path)
    clean(proc)
    assert proc.returncode == 2 and "--set" in proc.stderr


@pytest.mark.parametrize("option", ["--batch", "--depth"])
@pytest.mark.parametrize("value", ["9" * 5000, "\u0663", "9223372036854775808"], ids=["digits", "arabic", "2**63"])
def test_integer_options_are_ascii_and_bounded(tmp_path, option, value):
    (tmp_path / "n.nn").write_text(GOOD)
    proc = cli("summary", "n.nn", option, value, cwd=tmp_path)
    clean(proc)
    assert proc.returncode == 2 and option in proc.stderr


@pytest.mark.parametrize("call, code", [
    (lambda: nnshape.summarize(None), "E0004"),
    (lambda: nnshape.summarize(b"input 3\nrelu\n"), "E0004"),
    (lambda: nnshape.summarize(3), "E0004"),
    (lambda: nnshape.summarize(["input 3"]), "E0004"),
    (lambda: nnshape.summarize("input 3\nrelu\n", dtype=None), "E0306"),
    (lambda: nnshape.summarize("input 3\nrelu\n", optimizer=["adam"]), "E0306"),
    (lambda: nnshape.summarize("input (L, 3)\nrelu\n", bindings="L"), "E0005"),
    (lambda: nnshape.summarize("input (L, 3)\nrelu\n", bindings={3: 4}), "E0005"),
    (lambda: nnshape.summarize("input (L, 3)\nrelu\n", L=object()), "E0005"),
    (lambda: nnshape.summarize("input (L, 3)\nrelu\n", L=10**5000), "E0503"),
    (lambda: nnshape.summarize("input (L, 3)\nrelu\n", L=float("nan")), "E0503"),
    (lambda: nnshape.summarize("input 3\nrelu\n", batch=10**5000), "E0320"),
    (lambda: nnshape.summarize("input 3\nrelu\n", batch=2**63), "E0320"),
    (lambda: nnshape.summarize("input 3 " + " " * 300), None),  # OSError: File name too long
    (lambda: nnshape.summarize("input 3" + "#" * 5000), None),
    (lambda: nnshape.summarize("input 3\x00"), "E0104"),
    (lambda: nnshape.summarize("models/missing.nn"), "E0001"),
    (lambda: nnshape.verify(None, device="meta"), "E0004"),
    (lambda: nnshape.verify("input 3\nrelu\n", device=["cpu"]), "E0321"),
])
def test_api_misuse_is_one_exception_family(call, code):
    try:
        call()
    except nnshape.NNShapeError as err:
        assert err.code == code, str(err)
        str(err)  # and it renders
        return
    assert code is None


def test_a_one_line_spec_is_text_and_a_path_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "n.nn").write_text(GOOD)
    assert nnshape.summarize("n.nn").source == "n.nn"
    assert nnshape.summarize("input 3 # " + "x" * 4000).source == "<string>"
    os.mkfifo(tmp_path / "f.nn")
    with pytest.raises(nnshape.SpecReadError):  # refused as a file (not read as the text 'f.nn', not waited on)
        nnshape.summarize("f.nn")


def test_one_bad_spec_does_not_stop_check(tmp_path):
    for name, text in {"a.nn": GOOD, "b.nn": "input 3\nlinear " + "9" * 4400 + "\n", "c.nn": "input 3\nlinear " + "-" * 999 + "3\n", "d.nn": GOOD}.items():
        (tmp_path / name).write_text(text)
    proc = cli("check", "a.nn", "b.nn", "c.nn", "d.nn", cwd=tmp_path)
    clean(proc)
    assert proc.returncode == 1
    assert proc.stdout.count("ok   ") == 2 and "FAIL b.nn: invalid spec: error[E0503]" in proc.stdout and "2 of 4 specs failed" in proc.stdout


@pytest.mark.parametrize("text", ["input 3\nlinear \uff18\n", "input \u0663x\u0663\u0662x\u0663\u0662\n", "input 3\nlinear 1\u0660\n"])
def test_non_ascii_digits_are_not_numbers(text):
    with pytest.raises(nnshape.SpecSyntaxError) as info:
        nnshape.summarize(text)
    assert info.value.code == "E0104" and "ASCII" in info.value.hint


# ------------------------------------------------------------------------------ item 4: budget files

LOCATED_BUDGET = re.compile(r"Error: (sub/)?b\.toml:\d+:\d+: ")
SECRET = "NNSHAPE_TEST_SECRET_7d2e"


@pytest.mark.parametrize("pattern", ["/proc/self/environ", "../outside.nn", "a/../../outside.nn", "~/x.nn", "C:/x.nn", "..\\\\outside.nn"])
def test_budget_patterns_stay_in_the_budget_files_folder(tmp_path, pattern):
    (tmp_path / "outside.nn").write_text("input 3\n" + SECRET + "\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.toml").write_text(f'["{pattern}"]\nmax-params = "1M"\n')
    proc = cli("check", "--budget", "sub/b.toml", cwd=tmp_path, env={SECRET: SECRET})
    clean(proc)
    assert proc.returncode == 2 and LOCATED_BUDGET.search(proc.stderr), proc.stderr
    assert SECRET not in proc.stdout + proc.stderr


def test_budget_links_out_of_the_folder_are_refused_unread(tmp_path):
    (tmp_path / "secret.nn").write_text("input 3\n" + SECRET + "\n")
    (tmp_path / "proj" / "models").mkdir(parents=True)
    (tmp_path / "proj" / "models" / "ok.nn").write_text(GOOD)
    os.symlink(tmp_path / "secret.nn", tmp_path / "proj" / "models" / "leak.nn")
    (tmp_path / "proj" / "b.toml").write_text('["models/*.nn"]\nmax-params = "1M"\n')
    proc = cli("check", "--budget", "b.toml", cwd=tmp_path / "proj")
    clean(proc)
    assert proc.returncode == 2 and "b.toml:1:1: " in proc.stderr and "outside the budget file's folder" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    # a link to a folder outside is not followed at all; links inside the folder are fine
    os.remove(tmp_path / "proj" / "models" / "leak.nn")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "far.nn").write_text("input 3\n" + SECRET + "\n")
    os.symlink(tmp_path / "elsewhere", tmp_path / "proj" / "models" / "far")
    os.symlink("ok.nn", tmp_path / "proj" / "models" / "alias.nn")
    (tmp_path / "proj" / "b.toml").write_text('["models/**/*.nn"]\nmax-params = "1M"\n')
    proc = cli("check", "--budget", "b.toml", cwd=tmp_path / "proj")
    clean(proc)
    assert proc.returncode == 0 and "models/alias.nn" in proc.stdout and "models/ok.nn" in proc.stdout and "far.nn" not in proc.stdout


@pytest.mark.parametrize("content, where", [
    (b'["[z-a].nn"]\nmax-params = "1M"\n', "b.toml:1:1: "),  # re.error: exit 70
    (b'["n.nn"]\nmax-params = "\xff\xfe"\n', "b.toml:2:15: "),  # UnicodeDecodeError
    (b'["n.nn"]\nmax-params = ' + b"9" * 5000 + b"\n", "b.toml:2:14: "),  # ValueError: 4,300 digits
    (b'["n.nn"]\nmax-params = "' + b"9" * 5000 + b'"\n', "b.toml:2:1: "),
    (b'["n.nn"]\nmax-params = 99999999999999999999999\n', "b.toml:2:1: "),  # past 2**63 - 1
    (b'["n.nn"]\nset = { "a b" = 3 }\n', "b.toml:2:1: "),  # not a name: accepted before
    (b'["n.nn"]\nset = { L = 100000000000000000000000 }\n', "b.toml:2:1: "),
    (b'["n.nn"]\nset = { L = [1, 2] }\n', "b.toml:2:1: "),
    (b'x = ' + b"[" * 5000 + b"]" * 5000 + b"\n", "b.toml:1:5: "),  # RecursionError in tomllib
    (b'["n.nn"\n', "b.toml:1:8: "),
    (b'["' + b"*" * 2000 + b'"]\nmax-params = "1M"\n', "b.toml:1:1: "),
], ids=["range", "utf8", "digits", "digit-string", "2**63", "set-key", "set-value", "set-list", "nesting", "toml", "long-pattern"])
def test_malformed_budget_files_are_located_usage_errors(tmp_path, content, where):
    (tmp_path / "n.nn").write_text(GOOD)
    (tmp_path / "b.toml").write_bytes(content)
    proc = cli("check", "--budget", "b.toml", "n.nn", cwd=tmp_path)
    clean(proc)
    assert proc.returncode == 2 and f"Error: {where}" in proc.stderr, proc.stderr


def test_a_fifo_or_a_huge_file_is_no_budget_file(tmp_path):
    from nnshape.budget import BudgetError, load_budget
    from nnshape.limits import MAX_BUDGET_BYTES

    os.mkfifo(tmp_path / "fifo.toml")
    with pytest.raises(BudgetError, match="not a regular file"):
        load_budget(tmp_path / "fifo.toml")
    (tmp_path / "big.toml").write_text("# " + "x" * MAX_BUDGET_BYTES)
    with pytest.raises(BudgetError, match="larger than"):
        load_budget(tmp_path / "big.toml")


def test_pyproject_budget_tables_are_located(tmp_path):
    from nnshape.budget import BudgetError, load_budget

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.nnshape.budget."../*.nn"]\nmax-params = "1k"\n')
    with pytest.raises(BudgetError) as info:
        load_budget(tmp_path / "pyproject.toml")
    assert (info.value.line, info.value.col) == (4, 1)
    (tmp_path / "pyproject.toml").write_text('[tool]\nnnshape = 3\n')
    with pytest.raises(BudgetError) as info:
        load_budget(tmp_path / "pyproject.toml")
    assert info.value.line == 2


def test_glob_matching_takes_linear_steps():
    """A backtracking regex took 30 s on `*a*a*…*b` against 'aaa…'; the automaton's steps (its C
    calls, counted) grow with the path times the pattern, no faster."""
    from nnshape.globmatch import Glob

    from helpers import calls_made

    for stars in (10, 20, 40):
        glob = Glob("*a" * stars + "*b")
        for length in (40, 80, 160):
            path = "a" * length + ".nn"
            matched, calls = calls_made(lambda: glob.match(path))
            assert not matched
            assert calls <= 10 * (len(path) + 1) * (len(glob.tokens) + 1), (stars, length, calls)  # 5 to 8.5 measured
    assert Glob("*a" * 20 + "*b").match("a" * 40 + "b")


@pytest.mark.parametrize("pattern, path, expected", [
    ("models/*.nn", "models/a.nn", True), ("models/*.nn", "models/sub/a.nn", False),
    ("models/**/*.nn", "models/a.nn", True), ("models/**/*.nn", "models/x/y/a.nn", True),
    ("**/b", "bb", False), ("**/b", "a/b", True), ("**", "x/y/z.nn", True),
    ("m?del[0-9].nn", "model3.nn", True), ("[!a]", "/", False), ("[!a]", "b", True), ("[]]", "]", True),
    ("a[", "a[", True), ("*.nn", ".nn", True), ("?", "", False),
])
def test_glob_semantics(pattern, path, expected):
    from nnshape.globmatch import Glob

    assert Glob(pattern).match(path) is expected


def test_check_globs_do_not_follow_symlink_loops(tmp_path, monkeypatch):
    from nnshape.commands.check import _expand

    from helpers import bounded

    (tmp_path / "m" / "deep" / "er").mkdir(parents=True)
    (tmp_path / "m" / "a.nn").write_text(GOOD)
    (tmp_path / "m" / "deep" / "er" / "b.nn").write_text(GOOD)
    for i in range(4):  # glob('**') walked these for ever (loops within loops)
        os.symlink("..", tmp_path / "m" / f"up{i}")
        os.symlink(".", tmp_path / "m" / "deep" / f"self{i}")
    monkeypatch.chdir(tmp_path)
    found = bounded(lambda: _expand(("m/**/*.nn",)), steps=200_000)
    assert found == ["m/a.nn", "m/deep/er/b.nn"]
    proc = cli("check", "m/**/*.nn", cwd=tmp_path)
    clean(proc)
    assert proc.returncode == 0 and "all 2 specs passed" in proc.stdout


def test_walks_are_bounded(tmp_path, monkeypatch):
    from nnshape import globmatch

    monkeypatch.setattr(globmatch, "MAX_GLOB_ENTRIES", 50)
    for i in range(60):
        (tmp_path / f"f{i}.nn").write_text(GOOD)
    with pytest.raises(globmatch.GlobError, match="more than 50"):
        globmatch.walk("*.nn", str(tmp_path), globmatch.Meter(entries=50))


# ------------------------------------------------------------------------------ item 5: symbolic arithmetic


def test_symbolic_powers_are_bounded_in_work():
    """`((L*(2**63-1))**8)**8...` multiplied integers of millions of bits for minutes: a symbolic
    size's coefficients obey 2**63 - 1 in an expression (E0503 at the first `**` past it)."""
    from helpers import bounded

    text = "input (((((((((L*9223372036854775807))**8)**8)**8)**8)**8)**8)**8, 4)\nlinear 4\n"
    with pytest.raises(nnshape.SpecLimitError) as info:
        bounded(lambda: nnshape.summarize(text), steps=2_000_000)
    assert (info.value.code, info.value.line, info.value.col) == ("E0503", 1, 16)


@pytest.mark.parametrize("text, code", [
    ("input (L*4611686018427387904*4, 4)\nrelu\n", "E0503"),  # Poly * int: 2**64
    ("input (-L*4611686018427387904*4, 4)\nrelu\n", "E0503"),
    ("input ((L*3037000500)**2, 4)\nrelu\n", "E0503"),  # Poly ** int: just past 2**63
    ("input ((((L**8)**8)**8), 4)\nrelu\n", "E0510"),  # degree 512
    ("input ((L*3037000499)**2, 4)\nrelu\n", None),  # just below
    ("input ((L**8)**8, 4)\nrelu\n", None),  # degree 64
])
def test_symbolic_coefficients_and_degrees_are_bounded(text, code):
    try:
        result = nnshape.summarize(text)
    except nnshape.NNShapeError as err:
        assert err.code == code and err.line == 1 and err.col is not None, str(err)
        return
    assert code is None and isinstance(result, nnshape.Summary)


def test_poly_arithmetic_checks_its_bounds():
    from nnshape.limits import MAX_COEFF_BITS, MAX_DEGREE
    from nnshape.symbolic import Poly, TooComplex

    L = Poly.symbol("L")
    with pytest.raises(TooComplex) as info:
        L * 2 ** (MAX_COEFF_BITS + 1)  # the int fast path made no check
    assert info.value.what == "bits"
    with pytest.raises(TooComplex) as info:
        (L ** 8) ** 8 * L
    assert info.value.what == "degree" and MAX_DEGREE == 64
    assert isinstance(L * 2 ** (MAX_COEFF_BITS - 2), Poly)


# ------------------------------------------------------------------------------ item 6: verify's build


MILLION = "input 8\nrepeat 100:\n    repeat 100:\n        repeat 100:\n            relu\n"


def test_modules_are_counted_before_building():
    from nnshape.limits import MAX_MODULES
    from nnshape.resources import check_build, count_modules
    from nnshape.verifier import analyze_spec

    summary, plan = analyze_spec(MILLION)
    modules, culprit, inside = count_modules(plan)
    assert modules == 2_020_202 and inside == 2_020_201  # per innermost copy a Seq and a relu, then the repeats' Seqs
    with pytest.raises(nnshape.SpecLimitError) as info:
        check_build(summary, plan, device="meta", dtype_bytes=4)
    err = info.value
    assert (err.code, err.line) == ("E0508", 2) and "2,020,202 modules, more than 100,000" in err.message and f"{MAX_MODULES:,}" in err.expected
    check_build(summary, plan, device="meta", dtype_bytes=4, force=True)  # --force: no check


@pytest.mark.parametrize("example", ["lenet5.nn", "resnet18.nn", "googlenet.nn", "transformer.nn", "lstm.nn", "gpt2.nn"])
def test_the_module_count_is_the_builders(example):
    """The oracle: the modules torch holds once the builder is done. The count may be above it
    (a wrapper counted for every layer), never below, and not by much."""
    pytest.importorskip("torch")
    from nnshape.resources import count_modules, twin_modules
    from nnshape.verifier import analyze_spec
    from nnshape.verifier.builder import build

    path = ROOT / "examples" / example
    if not path.exists():
        pytest.skip(f"{example} is not an example any more")
    summary, plan = analyze_spec(Source.from_path(path))
    built = len(list(build(summary, plan, device="meta").model.modules()))
    counted = count_modules(plan, twin_modules())[0]
    assert built <= counted <= 2 * built, (built, counted)


def test_verify_refuses_before_building(monkeypatch):
    """A million relus were built (400 s, 5.9 GB on meta) before any check."""
    pytest.importorskip("torch")
    from nnshape.verifier import runner

    def no_build(*args, **kwargs):
        raise AssertionError("built")

    monkeypatch.setattr(runner, "build", no_build)
    with pytest.raises(nnshape.SpecLimitError) as info:
        nnshape.verify(MILLION, device="meta")
    assert info.value.code == "E0508" and info.value.line == 2


def test_verify_refuses_what_memory_cannot_hold(monkeypatch):
    pytest.importorskip("torch")
    from nnshape import resources
    from nnshape.verifier import runner

    monkeypatch.setattr(runner, "build", lambda *a, **k: (_ for _ in ()).throw(AssertionError("built")))
    monkeypatch.setattr(resources, "available_memory", lambda: resources.Room(2 * 10**9, "a test's limit"))
    with pytest.raises(nnshape.SpecLimitError) as info:
        nnshape.verify("input 3x4096x4096\nconv2d 64 k3 p1\n", device="cpu")
    err = info.value
    assert (err.code, err.line) == ("E0508", 2)  # the conv makes the largest tensor
    assert "4.56 GB" in err.message and "2.00 GB" in err.message and "a test's limit" in err.expected
    assert "inference peak 4.50 GB" in err.found


def test_available_memory_sees_the_address_space_limit():
    """RLIMIT_AS (as `prlimit --as` or `ulimit -v` set it) minus what the process maps."""
    code = "from nnshape.resources import available_memory as a; r = a(); print(r.bytes, r.what)"
    proc = subprocess.run(["bash", "-c", f'ulimit -v {1536 * 1024} && exec "$@"', "t", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=HANG_GUARD, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    room, what = proc.stdout.split(" ", 1)
    assert 0 < int(room) < 1536 * 1024 * 1024 and "RLIMIT_AS" in what


def test_verify_under_an_address_space_limit_is_a_located_error(tmp_path):
    """The audit's case end to end: 2.5 GB of address space, a conv whose activations need 4.5 GB."""
    pytest.importorskip("torch")
    (tmp_path / "c.nn").write_text("input 3x4096x4096\nconv2d 64 k3 p1\n")
    proc = subprocess.run(["bash", "-c", f'ulimit -v {2500 * 1024} && exec "$@"', "t", sys.executable, "-m", "nnshape", "verify", "--device", "cpu", "c.nn"],
                          capture_output=True, text=True, timeout=HANG_GUARD, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    clean(proc)
    assert proc.returncode == 1 and proc.stderr.startswith("c.nn:2:1: error[E0508]: verify would need about 4.56 GB on cpu"), proc.stderr


def test_torch_that_fails_to_load_is_not_called_missing(tmp_path):
    """Under `prlimit --as=2.5G` a CUDA build of torch cannot map libtorch_cpu.so (seen on an H200
    machine): verify said "PyTorch is not installed". A stand-in torch that fails the same way."""
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text('raise ImportError("libtorch_cpu.so: failed to map segment from shared object")\n')
    (tmp_path / "n.nn").write_text(GOOD)
    proc = cli("verify", "n.nn", cwd=tmp_path, env={"PYTHONPATH": os.pathsep.join([str(ROOT), str(fake)])})
    clean_output = proc.stdout + proc.stderr
    assert proc.returncode == 3, clean_output
    assert "installed but could not be loaded (ImportError: libtorch_cpu.so: failed to map segment" in clean_output
    assert "not installed" not in clean_output and "prlimit" in clean_output
    from nnshape.install import load_failure

    assert load_failure(ModuleNotFoundError("No module named 'torch'", name="torch")) is None
    assert load_failure(ModuleNotFoundError("No module named 'sympy'", name="sympy")) == "ModuleNotFoundError: No module named 'sympy'"
    # what needs no torch is checked first: a network past the memory is refused even so (exit 1, E0508)
    (tmp_path / "huge.nn").write_text("input 64x16384x16384\nconv2d 1024 k3 p1\n")
    proc = cli("verify", "--device", "cpu", "huge.nn", cwd=tmp_path, env={"PYTHONPATH": os.pathsep.join([str(ROOT), str(fake)])})
    clean(proc)
    assert proc.returncode == 1 and proc.stderr.startswith("huge.nn:2:1: error[E0508]: verify would need about 1.17 TB on cpu"), proc.stderr
