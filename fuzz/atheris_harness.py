"""Coverage-guided fuzzing of the whole read → parse → analyze path with atheris (libFuzzer).

Every input is a byte string handed to ``Source.from_bytes`` and ``nnshape.summarize``. The only
acceptable outcomes are a ``Summary`` or an ``NNShapeError`` whose report renders; any other
exception escapes and libFuzzer records it as a crash (with the input saved under
fuzz/artifacts/). Hangs and memory blow-ups are caught by libFuzzer's -timeout and -rss_limit_mb.

Run from the repository root (see fuzz/README.md):

    python fuzz/atheris_harness.py -max_total_time=600

With no corpus folder on the command line the harness uses fuzz/corpus/ (new inputs land there)
seeded with examples/*.nn, the dictionary fuzz/nnshape.dict, and sensible -timeout/-rss_limit_mb.
``python fuzz/atheris_harness.py CRASH_FILE`` replays one input.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["nnshape"]):
    import nnshape
    from nnshape.errors import NNShapeError
    from nnshape.source import Source
    from nnshape.summary import Summary

    # Import every submodule now (kinds load lazily otherwise) so all of them get coverage hooks.
    for _info in pkgutil.walk_packages(nnshape.__path__, "nnshape."):
        if not _info.name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(_info.name)
    nnshape.registry.all_kinds()

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def TestOneInput(data: bytes) -> None:
    try:
        source = Source.from_bytes("<fuzz>", data)
        result = nnshape.summarize(source)
    except NNShapeError as err:
        str(err)  # the report itself must render
        err.diagnostic.to_dict()
        return
    if not isinstance(result, Summary):
        raise TypeError(f"summarize returned {type(result).__name__}, not a Summary")
    result.to_dict()


def default_args(argv: list[str]) -> list[str]:
    """Add the corpus folders, dictionary and limits unless the command line names its own."""
    args = list(argv)
    flags = [a for a in args[1:] if a.startswith("-")]
    paths = [a for a in args[1:] if not a.startswith("-")]
    if not paths:
        corpus = HERE / "corpus"
        corpus.mkdir(exist_ok=True)
        args += [str(corpus), str(ROOT / "examples")]
    if not any(f.startswith("-dict=") for f in flags):
        args.append(f"-dict={HERE / 'nnshape.dict'}")
    if not any(f.startswith("-artifact_prefix=") for f in flags):
        (HERE / "artifacts").mkdir(exist_ok=True)
        args.append(f"-artifact_prefix={HERE / 'artifacts'}{os.sep}")
    if not any(f.startswith("-timeout=") for f in flags):
        args.append("-timeout=10")  # seconds for one input: a hang is a bug
    if not any(f.startswith("-rss_limit_mb=") for f in flags):
        args.append("-rss_limit_mb=4096")
    if not any(f.startswith("-max_len=") for f in flags):
        args.append("-max_len=8192")
    return args


def main() -> None:
    atheris.Setup(default_args(sys.argv), TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
