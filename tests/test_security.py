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
