"""Outside probes: the audit of issue 11, run as a user would (a subprocess, `timeout`, `prlimit`).

Each probe sets up files in a fresh folder, runs `python -m nnshape ...` (or a few lines of the
API) and checks what a hostile input must never get: an exit status other than the expected
0/1/2, a traceback or an "internal error" (status 70), a hang, a written file, executed code,
a leaked secret, a raw control character in the output, or an injected GitHub workflow command.
An error must be located (``file:line:col: error[EXXXX]`` for a spec, ``file:line:col:`` for a
budget file).

    python fuzz/probes.py                 # every probe, a table of results
    python fuzz/probes.py -k git -v       # probes whose name contains "git", with their output
    python fuzz/probes.py --json out.json

Run it from the repository root (it puts the root first on PYTHONPATH). Probes marked `torch`
import torch (verify) and take a few seconds each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
CODE = ROOT  # the checkout whose nnshape is probed (--root)
SECRET = "NNSHAPE_PROBE_SECRET_4f1c9"
# raw control characters that must never reach a terminal or a CI log (\n and \t are layout)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
LOCATED = re.compile(r": (error|warning)\[[EW]\d{4}\]|:\d+:\d+: ")  # a spec's report, or file:line:col of a budget file
INJECTED = re.compile(r"^::(add-mask|error::INJECTED|set-output|stop-commands)", re.M)


@dataclass
class Probe:
    name: str
    item: int
    setup: Callable[[Path], list[str]]  # returns argv after `python -m nnshape` (or ["--python", code])
    expect: tuple[int, ...] = (1,)
    timeout: float = 30
    address_space: str | None = "2500000000"  # prlimit --as (bytes, or 700M / 1G); every probe runs under one
    stdin: str | None = "devnull"  # "devnull", "closed", or text
    located: bool = True
    forbidden_files: tuple[str, ...] = ()
    torch: bool = False
    extra: Callable[[Path, str, str], str | None] | None = None  # more checks: a failure text or None
    then: str | None = None  # Python run next in the same folder, under the same limits (import the exported file): must exit 0


@dataclass
class Outcome:
    probe: Probe
    rc: int
    seconds: float
    problems: list[str] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def spec(folder: Path, name: str, text: str | bytes) -> str:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path.relative_to(folder))


GOOD = "input 3x8x8\nconv2d 4 k3\nrelu\n"

# ------------------------------------------------------------------------------------------ probes
PROBES: list[Probe] = []


def probe(name: str, item: int, **kw):
    def register(setup):
        PROBES.append(Probe(name, item, setup, **kw))
        return setup

    return register


# item 1: export writes Python; the file must hold no spec text as code, compile, build and run
def import_forward(shapes: list[tuple[int, ...]], expected: tuple[int, ...], class_name: str = "Model", module: str = "out.py") -> str:
    """Python that imports the exported file, builds the class and runs one forward on random inputs."""
    return (
        "import importlib.util, torch\n"
        f"spec = importlib.util.spec_from_file_location('exported', {module!r})\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(m)\n"
        f"net = getattr(m, {class_name!r})()\n"
        f"y = net(*[torch.randn(1, *s) for s in {shapes!r}])\n"
        f"assert tuple(y.shape) == {expected!r}, tuple(y.shape)\n"
        "print('forward', tuple(y.shape))\n"
    )


PWNED_NAME = 'x""";import os;os.system("touch PWNED");"""y.nn'
PWNED_NAME_2 = "x" + "'" * 3 + "\n" + 'import os;os.system("touch PWNED")#\\' + '"' * 3 + ".nn"  # other quotes, a newline, a backslash


@probe("export: code in the file name, then import + forward", 1, expect=(0,), located=False, torch=True, forbidden_files=("PWNED",),
       then=import_forward([(3, 8, 8)], (1, 4, 6, 6)))
def _(d):
    return ["export", spec(d, PWNED_NAME, GOOD), "-o", "out.py"]


@probe("export: quotes, newline, backslash in the file name, to stdout, then import", 1, expect=(0,), located=False, torch=True,
       forbidden_files=("PWNED",), then=import_forward([(3, 8, 8)], (1, 4, 6, 6)))
def _(d):
    name = spec(d, PWNED_NAME_2, GOOD)
    # the export goes to stdout; a child writes it to out.py so that `then` imports exactly what was printed
    return ["--python", f"import subprocess, sys\nout = subprocess.run([sys.executable, '-m', 'nnshape', 'export', {name!r}], capture_output=True)\n"
            "open('out.py', 'wb').write(out.stdout)\nsys.stderr.write(out.stderr.decode())\nraise SystemExit(out.returncode)\n"]


RESERVED_NAMES = """input 3x8x8
conv2d 4 k3 p1 name=_items
relu name=_inputs
residual:
    conv2d 4 k3 p1 name=_output
    relu name=_has_shortcut
shortcut:
    conv2d 4 k1 name=_alias
block _source:
    relu name=forward
flatten name=__init__
linear 5 name=__class__
"""


@probe("export: layer names _items _inputs _output _source _alias _has_shortcut", 1, expect=(0,), located=False, torch=True,
       then=import_forward([(3, 8, 8)], (1, 5)))
def _(d):
    return ["export", spec(d, "r.nn", RESERVED_NAMES), "-o", "out.py"]


def _nested_defs(depth: int) -> str:
    defs = "".join(f"def f{i}():\n    f{i + 1}\n" for i in range(depth)) + f"def f{depth}():\n    linear 4\n"
    return defs + "input 4\nf0\n"


@probe("export: def calls nested 66 deep", 1, expect=(0,), located=False, torch=True, then=import_forward([(4,)], (1, 4)))
def _(d):
    return ["export", spec(d, "d.nn", _nested_defs(66)), "-o", "out.py"]


@probe("export: def calls nested 99 deep", 1, expect=(0,), located=False, torch=True, then=import_forward([(4,)], (1, 4)))
def _(d):
    return ["export", spec(d, "d.nn", _nested_defs(99)), "-o", "out.py"]


for _cls in ("super", "dict", "zip", "Network", "torch", "nn"):
    @probe(f"export: --class-name {_cls}", 1, expect=(2,), located=False, forbidden_files=("out.py",))
    def _(d, _cls=_cls):
        return ["export", spec(d, "n.nn", GOOD), "--class-name", _cls, "-o", "out.py"]


@probe("export: --class-name with code", 1, expect=(2,), located=False, forbidden_files=("out.py", "PWNED"))
def _(d):
    return ["export", spec(d, "n.nn", GOOD), "--class-name", "M(nn.Module):pass\nimport os;os.system('touch PWNED')#", "-o", "out.py"]


@probe("export: a million relus, 2.5 GB", 1, timeout=60, forbidden_files=("out.py",))
def _(d):
    return ["export", spec(d, "m.nn", "input 8\nrepeat 100:\n    repeat 100:\n        repeat 100:\n            relu\n"), "-o", "out.py"]


EXPORT_API = (
    "import nnshape\n"
    f"nnshape.export(open({PWNED_NAME!r}).read(), 'out.py')\n"
    f"nnshape.export(nnshape.summarize({PWNED_NAME!r}), 'out2.py')\n"
)


@probe("api: nnshape.export of the hostile file name, then import + forward", 1, expect=(0,), located=False, torch=True,
       forbidden_files=("PWNED",), then=import_forward([(3, 8, 8)], (1, 4, 6, 6)) + import_forward([(3, 8, 8)], (1, 4, 6, 6), module="out2.py"))
def _(d):
    spec(d, PWNED_NAME, GOOD)
    return ["--python", EXPORT_API]


# item 2: git
def _git_repo(d: Path) -> None:
    env = {"GIT_AUTHOR_NAME": "p", "GIT_AUTHOR_EMAIL": "p@p", "GIT_COMMITTER_NAME": "p", "GIT_COMMITTER_EMAIL": "p@p"}
    run = lambda *a, **kw: subprocess.run(["git", *a], cwd=d, check=True, capture_output=True, env={**os.environ, **env}, **kw)  # noqa: E731
    run("init", "-q")
    spec(d, "net.nn", GOOD)
    run("add", "net.nn")
    run("commit", "-qm", "x")


@probe("git: --output option injection", 2, forbidden_files=("PWNED",))
def _(d):
    _git_repo(d)
    return ["diff", "git:--output=PWNED:net.nn", "net.nn"]


@probe("git: -p option as revision", 2, forbidden_files=("PWNED",))
def _(d):
    _git_repo(d)
    return ["diff", "git:--output=PWNED:", "net.nn"]


@probe("git: 400 MB blob, 700 MB address space", 2, address_space="700M", timeout=120)
def _(d):
    _git_repo(d)
    env = {"GIT_AUTHOR_NAME": "p", "GIT_AUTHOR_EMAIL": "p@p", "GIT_COMMITTER_NAME": "p", "GIT_COMMITTER_EMAIL": "p@p"}
    blob = subprocess.run("head -c 400000000 /dev/zero | tr '\\0' '#' | git hash-object -w --stdin", shell=True, cwd=d,
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},big.nn"], cwd=d, check=True)
    subprocess.run(["git", "commit", "-qm", "big"], cwd=d, check=True, env={**os.environ, **env})
    return ["diff", "git:HEAD:big.nn", "net.nn"]


# item 3: control characters and workflow commands
INJECT_NAME = "a\n::add-mask::SECRET\n::error::INJECTED.nn"


@probe("names: workflow commands in a valid spec's name (check --annotate)", 3, expect=(0,), located=False)
def _(d):
    return ["check", "--annotate", "github", spec(d, INJECT_NAME, GOOD)]


@probe("names: workflow commands in an invalid spec's name (check --annotate)", 3)
def _(d):
    return ["check", "--annotate", "github", spec(d, INJECT_NAME, "input 3\nconv2d 4 k3\n")]


@probe("names: ESC/OSC and CR in a file name (summary)", 3)
def _(d):
    return ["summary", spec(d, "x\x1b]0;PWNED\x07\r\x1b[2Jy.nn", "input 3\nbogus\n")]


@probe("names: bidi override in a file name (check)", 3, expect=(0,), located=False)
def _(d):
    return ["check", spec(d, "evil\u202egnp.nn", GOOD)]


@probe("names: ESC in a string token (found: text)", 3)
def _(d):
    return ["summary", spec(d, "s.nn", "input 3 'a\x1b]0;PWNED\x07'\n")]


@probe("names: ESC in a --set value", 3, expect=(2,), located=False)
def _(d):
    return ["summary", spec(d, "s.nn", GOOD), "--set", "L='\x1b[2J'x"]


@probe("names: newline in a diff file name (markdown)", 3, expect=(0,), located=False)
def _(d):
    return ["diff", "-f", "markdown", spec(d, "o\n::error::INJECTED.nn", GOOD), spec(d, "n.nn", "input 3x8x8\nconv2d 5 k3\n")]


@probe("names: verify report of a named spec", 3, expect=(0,), located=False, torch=True)
def _(d):
    return ["verify", "--device", "meta", spec(d, "v\n::error::INJECTED\x1b[2J.nn", GOOD)]


@probe("names: workflow commands in a layer kind (layers KIND)", 3, located=False)
def _(d):
    return ["layers", INJECT_NAME]


@probe("names: workflow commands in a budget file's name", 3, expect=(2,), located=False)
def _(d):
    return ["check", "--budget", INJECT_NAME, spec(d, "n.nn", GOOD)]


for _cmd in ("draw", "export", "report"):
    @probe(f"names: workflow commands in {_cmd} -o", 3, expect=(0,), located=False)
    def _(d, _cmd=_cmd):
        return [_cmd, spec(d, "n.nn", GOOD), "-o", INJECT_NAME + {"draw": ".svg", "export": ".py", "report": ".html"}[_cmd]]


# item 4: budget files
@probe("budget: absolute pattern /proc/self/environ", 4, expect=(2,))
def _(d):
    spec(d, "b.toml", '["/proc/self/environ"]\nmax-params = "1M"\n')
    return ["check", "--budget", "b.toml"]


@probe("budget: ../ pattern", 4, expect=(2,))
def _(d):
    (d / "sub").mkdir()
    spec(d, "outside.nn", "input 3\n" + SECRET + "\n")
    spec(d, "sub/b.toml", '["../outside.nn"]\nmax-params = "1M"\n')
    return ["check", "--budget", "sub/b.toml"]


@probe("budget: symlink out of the folder", 4, expect=(2,))
def _(d):
    (d / "proj").mkdir()
    spec(d, "secret.nn", "input 3\n" + SECRET + "\n")
    os.symlink(d / "secret.nn", d / "proj" / "leak.nn")
    spec(d, "proj/b.toml", '["*.nn"]\nmax-params = "1M"\n')
    return ["check", "--budget", "proj/b.toml"]


@probe("budget: backtracking pattern *a*a*...*b", 4, timeout=20)
def _(d):
    name = spec(d, "a" * 40 + ".nn", "input 3\nbogus\n")
    spec(d, "b.toml", '["' + "*a" * 20 + '*b"]\nmax-params = "1M"\n')
    return ["check", "--budget", "b.toml", name]


@probe("budget: [z-a] pattern", 4, expect=(2,))
def _(d):
    spec(d, "b.toml", '["[z-a].nn"]\nmax-params = "1M"\n')
    return ["check", "--budget", "b.toml", spec(d, "n.nn", GOOD)]


@probe("budget: invalid UTF-8", 4, expect=(2,))
def _(d):
    spec(d, "b.toml", b'["n.nn"]\nmax-params = "\xff\xfe"\n')
    return ["check", "--budget", "b.toml", spec(d, "n.nn", GOOD)]


@probe("budget: 5000-digit value", 4, expect=(2,))
def _(d):
    spec(d, "b.toml", '["n.nn"]\nmax-params = ' + "9" * 5000 + "\n")
    return ["check", "--budget", "b.toml", spec(d, "n.nn", GOOD)]


@probe("budget: non-identifier set key", 4, expect=(2,))
def _(d):
    spec(d, "b.toml", '["n.nn"]\nset = { "a b" = 3 }\n')
    return ["check", "--budget", "b.toml", spec(d, "n.nn", GOOD)]


@probe("budget: a FIFO as the budget file", 4, expect=(2,), timeout=15, located=False,
       extra=lambda d, out, err: None if "b.toml: not a regular file" in err else "the file is not named")
def _(d):
    os.mkfifo(d / "b.toml")
    return ["check", "--budget", "b.toml", spec(d, "n.nn", GOOD)]


# item 5: symbolic arithmetic
@probe("poly: ((L*(2**63-1))**8)**8... ", 5, timeout=20)
def _(d):
    return ["summary", spec(d, "p.nn", "input (((((((((L*9223372036854775807))**8)**8)**8)**8)**8)**8)**8, 4)\nlinear 4\n")]


@probe("poly: ((L**8)**8)**8... (degree 8**6)", 5, timeout=20)
def _(d):
    return ["summary", spec(d, "p.nn", "input ((((((L**8)**8)**8)**8)**8)**8, 4)\nlinear 4\n")]


@probe("poly: ((L**8)**8)**8... then --set L=3", 5, timeout=20)
def _(d):
    return ["summary", spec(d, "p.nn", "input ((((((L**8)**8)**8)**8)**8)**8, 4)\nlinear 4\n"), "--set", "L=3"]


# item 6: verify resources
@probe("verify: a million relus on meta, 2.5 GB", 6, timeout=60, torch=True)
def _(d):
    return ["verify", "--device", "meta", spec(d, "m.nn", "input 8\nrepeat 100:\n    repeat 100:\n        repeat 100:\n            relu\n")]


@probe("verify: 3x4096x4096 conv on CPU, 2.5 GB", 6, timeout=60, torch=True)
def _(d):
    return ["verify", "--device", "cpu", spec(d, "c.nn", "input 3x4096x4096\nconv2d 64 k3 p1\n")]


# item 7: exceptions that are not NNShapeError
@probe("digits: a 4400-digit literal in a spec", 7)
def _(d):
    return ["summary", spec(d, "n.nn", "input 3\nlinear " + "9" * 4400 + "\n")]


@probe("digits: a 4400-digit dims token", 7)
def _(d):
    return ["summary", spec(d, "n.nn", "input 3x" + "9" * 4400 + "\n")]


@probe("digits: a 4400-digit compact key (k999...)", 7)
def _(d):
    return ["summary", spec(d, "n.nn", "input 3x8x8\nconv2d 4 k" + "9" * 4400 + "\n")]


@probe("digits: a 4400-digit --set value", 7, expect=(2,), located=False)
def _(d):
    return ["summary", spec(d, "n.nn", GOOD), "--set", "L=" + "9" * 4400]


@probe("digits: 10**5000 --batch", 7, expect=(2,), located=False)
def _(d):
    return ["summary", spec(d, "n.nn", GOOD), "--batch", "9" * 5000]


@probe("parser: 1000 unary minuses", 7)
def _(d):
    return ["summary", spec(d, "n.nn", "input 3\nlinear " + "-" * 1000 + "3\n")]


@probe("parser: 500 ** in a row", 7)
def _(d):
    return ["summary", spec(d, "n.nn", "input 3\nlet x = " + "**".join(["1"] * 500) + "\n")]


@probe("parser: 30,000 + in a row", 7)
def _(d):
    return ["summary", spec(d, "n.nn", "input 3\nlet x = " + "+".join(["1"] * 30_000) + "\nlinear x\n")]


@probe("stdin: closed (summary - <&-)", 7, stdin="closed")
def _(d):
    return ["summary", "-"]


@probe("check: one bad spec among good ones", 7, extra=lambda d, out, err: None if out.count("ok   ") == 2 else "the good specs were not all checked")
def _(d):
    return ["check", spec(d, "a.nn", GOOD), spec(d, "b.nn", "input 3\nlinear " + "9" * 4400 + "\n"), spec(d, "c.nn", GOOD)]


API_CODE = r"""
import nnshape
cases = {
    "None": lambda: nnshape.summarize(None),
    "bytes": lambda: nnshape.summarize(b"input 3\nrelu\n"),
    "int": lambda: nnshape.summarize(3),
    "list": lambda: nnshape.summarize(["input 3"]),
    "dtype=None": lambda: nnshape.summarize("input 3\nrelu\n", dtype=None),
    "optimizer=[]": lambda: nnshape.summarize("input 3\nrelu\n", optimizer=["adam"]),
    "bindings='L'": lambda: nnshape.summarize("input (L, 3)\nrelu\n", bindings="L"),
    "batch=10**5000": lambda: nnshape.summarize("input 3\nrelu\n", batch=10**5000),
    "binding 10**5000": lambda: nnshape.summarize("input (L, 3)\nrelu\n", L=10**5000),
    "binding object": lambda: nnshape.summarize("input (L, 3)\nrelu\n", L=object()),
    "one line of 300": lambda: nnshape.summarize("input 3 " + " " * 300),
    "one line of 5000": lambda: nnshape.summarize("input 3" + "#" * 5000),
    "NUL in text": lambda: nnshape.summarize("input 3\x00"),
    "verify None": lambda: nnshape.verify(None, device="meta"),
}
bad = []
for name, call in cases.items():
    try:
        call()
    except nnshape.NNShapeError as err:
        assert err.code.startswith("E"), name
        continue
    except Exception as err:
        bad.append(f"{name}: {type(err).__name__}: {str(err)[:80]}")
        continue
print("\n".join(bad) or "all NNShapeError")
raise SystemExit(1 if bad else 0)
"""


@probe("api: misuse raises NNShapeError", 7, expect=(0,), located=False, torch=True)
def _(d):
    return ["--python", API_CODE]


# item 8: other inputs
@probe("fifo: a FIFO as SPEC", 8, timeout=15)
def _(d):
    os.mkfifo(d / "f.nn")
    return ["summary", "f.nn"]


@probe("device: /dev/zero as SPEC", 8, timeout=30)
def _(d):
    return ["summary", "/dev/zero"]


@probe("stdin: endless zeros on stdin, 1 GB", 8, timeout=60, address_space="1G", stdin="zeros")
def _(d):
    return ["summary", "-"]


@probe("glob: symlink loops under check '**'", 8, timeout=30)
def _(d):
    (d / "m").mkdir()
    spec(d, "m/a.nn", GOOD)
    for i in range(4):
        os.symlink("..", d / "m" / f"up{i}")
        os.symlink(".", d / "m" / f"self{i}")
    return ["check", "m/**/*.nn", spec(d, "bad.nn", "input 3\nbogus\n")]


@probe("digits: fullwidth 8 (linear ８)", 8)
def _(d):
    return ["summary", spec(d, "u.nn", "input 3\nlinear \uff18\n")]


@probe("digits: Arabic-Indic dims (input ٣x٣٢x٣٢)", 8)
def _(d):
    return ["summary", spec(d, "u.nn", "input \u0663x\u0663\u0662x\u0663\u0662\n")]


def _markdown_backtick(d, out, err):
    """The file name must come out as one code span (markdown-it, rich's dependency, renders it)."""
    from markdown_it import MarkdownIt

    head = out.splitlines()[0] if out else ""
    html = MarkdownIt().render(head)
    return None if "<code>a`b.nn</code>" in html else f"file name not one code span: {html.strip()!r}"


@probe("markdown: a backtick in a diff file name", 8, expect=(0,), located=False, extra=_markdown_backtick)
def _(d):
    return ["diff", "-f", "markdown", spec(d, "a`b.nn", GOOD), spec(d, "n.nn", "input 3x8x8\nconv2d 5 k3\n")]


# ------------------------------------------------------------------------------------------ runner


def _bytes(size: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    return int(float(size[:-1]) * units[size[-1]]) if size[-1] in units else int(size)


def _prlimit_works() -> bool:
    """prlimit(1) sets RLIMIT_AS as the audit did; it crashes on some VMs, where `ulimit -v` does the same."""
    try:
        return subprocess.run(["prlimit", "--as=2500000000", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


PRLIMIT = None


def limited(p: Probe, cmd: list[str]) -> list[str]:
    """``cmd`` under the probe's address-space limit and its timeout (KILL: a hang cannot outlive it)."""
    global PRLIMIT
    if PRLIMIT is None:
        PRLIMIT = _prlimit_works()
    if p.address_space:
        size = _bytes(p.address_space)
        cmd = ["prlimit", f"--as={size}", *cmd] if PRLIMIT else ["bash", "-c", f'ulimit -v {size // 1024} && exec "$@"', "probe", *cmd]
    return ["timeout", "-s", "KILL", str(p.timeout)] + cmd


def run_probe(p: Probe, verbose: bool = False) -> Outcome:
    folder = Path(tempfile.mkdtemp(prefix="nnshape-probe-"))
    try:
        argv = p.setup(folder)
        env = {**os.environ, "PYTHONPATH": str(CODE) + os.pathsep + os.environ.get("PYTHONPATH", ""), SECRET: SECRET,
               "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        cmd = [sys.executable, "-c", argv[1]] if argv[0] == "--python" else [sys.executable, "-m", "nnshape", *argv]
        cmd = limited(p, cmd)
        stdin = subprocess.DEVNULL
        feed = None
        if p.stdin == "closed":
            cmd = ["bash", "-c", 'exec "$@" <&-', "probe", *cmd]
        elif p.stdin == "zeros":
            feed = subprocess.Popen(["cat", "/dev/zero"], stdout=subprocess.PIPE)
            stdin = feed.stdout
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=folder, env=env, stdin=stdin, capture_output=True)
        seconds = time.monotonic() - start
        if feed is not None:
            feed.kill()
            feed.wait()
        out = proc.stdout.decode("utf-8", "replace")
        err = proc.stderr.decode("utf-8", "replace")
        result = Outcome(p, proc.returncode, seconds, stdout=out, stderr=err)
        problems = result.problems
        if proc.returncode in (124, 137, -9):
            problems.append(f"hang: killed after {p.timeout:g} s")
        elif proc.returncode not in p.expect:
            problems.append(f"exit {proc.returncode}, expected {'/'.join(map(str, p.expect))}")
        if "Traceback" in err or "internal error" in err:
            problems.append("traceback / internal error")
        if CONTROL.search(out) or CONTROL.search(err):
            ch = (CONTROL.search(out) or CONTROL.search(err)).group()
            problems.append(f"raw control character U+{ord(ch):04X} in the output")
        if INJECTED.search(out) or INJECTED.search(err):
            problems.append("a workflow command injected")
        if SECRET in out or SECRET in err:
            problems.append("the secret leaked")
        if p.located and proc.returncode in (1, 2) and not LOCATED.search(err):
            problems.append("error not located")
        if p.then is not None and proc.returncode == 0:
            after = subprocess.run(limited(p, [sys.executable, "-c", p.then]), cwd=folder, env=env, stdin=subprocess.DEVNULL, capture_output=True)
            seconds = time.monotonic() - start
            result.seconds = seconds
            then_err = after.stderr.decode("utf-8", "replace")
            if after.returncode != 0:
                problems.append(f"the exported file: exit {after.returncode}: {then_err.strip().splitlines()[-1:] or ''}")
            err += "\n[then]\n" + after.stdout.decode("utf-8", "replace") + then_err
            result.stderr = err
        for name in p.forbidden_files:
            for written in folder.glob(name + "*"):
                problems.append(f"wrote {written.name}")
        if p.extra is not None:
            more = p.extra(folder, out, err)
            if more:
                problems.append(more)
        if verbose:
            print(f"--- {p.name}: rc={proc.returncode} {seconds:.1f}s\n[stdout]\n{out[-1500:]}\n[stderr]\n{err[-1500:]}")
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", default="", help="only probes whose name contains this")
    ap.add_argument("-v", action="store_true", help="print each probe's output")
    ap.add_argument("--no-torch", action="store_true", help="skip the probes that import torch")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--root", help="probe the nnshape of this checkout (default: this one), e.g. an older commit's worktree")
    args = ap.parse_args()
    global CODE
    CODE = Path(args.root).resolve() if args.root else ROOT
    chosen = [p for p in PROBES if args.k in p.name and not (args.no_torch and p.torch)]
    results = []
    width = max(len(p.name) for p in chosen)
    for p in chosen:
        r = run_probe(p, args.v)
        results.append(r)
        verdict = "ok" if r.ok else "FAIL: " + "; ".join(r.problems)
        print(f"{p.item}  {p.name:<{width}}  rc={r.rc:<4} {r.seconds:6.1f}s  {verdict}", flush=True)
    failed = sum(not r.ok for r in results)
    print(f"\n{len(results) - failed} of {len(results)} probes pass")
    if args.json:
        Path(args.json).write_text(json.dumps([{"probe": r.probe.name, "item": r.probe.item, "rc": r.rc, "seconds": round(r.seconds, 2),
                                                 "problems": r.problems} for r in results], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
