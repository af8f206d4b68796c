"""The command that installs an optional dependency, as it works from where nnshape runs.

nnshape is not on the package index, so ``pip install 'nnshape[torch]'`` would look for a
package that is not there. The dependency itself (``pip install torch``) always works; from a
source checkout, the extra of that checkout works too and pins what the tests use.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path


def checkout_root() -> Path | None:
    """The source checkout nnshape runs from (the folder with its pyproject.toml), or None for
    an installed copy."""
    root = Path(__file__).resolve().parent.parent
    project = root / "pyproject.toml"
    try:
        if project.is_file() and 'name = "nnshape"' in project.read_text(encoding="utf-8", errors="replace"):
            return root
    except OSError:  # pragma: no cover - an unreadable file: as if installed
        pass
    return None


def install_command(package: str, extra: str) -> str:
    """`pip install torch`, and from a checkout also `pip install -e '.[torch]'` (the checkout's
    path when the working directory is elsewhere)."""
    command = f"pip install {package}"
    root = checkout_root()
    if root is None:
        return command
    try:
        here = Path.cwd().resolve() == root
    except OSError:  # pragma: no cover - a deleted working directory
        here = False
    where = "." if here else os.fspath(root)
    return f"{command} (or, for this checkout: pip install -e {shlex.quote(f'{where}[{extra}]')})"


LOAD_HINT = ("a memory limit (ulimit -v, prlimit --as, a container's) too small to map its libraries is a common cause: "
             "raise it, or use `nnshape summary`, which needs no torch")


def load_failure(exc: BaseException) -> str | None:
    """Why an installed package failed to import (None: it is simply not installed).

    Under ``prlimit --as=2.5G`` a CUDA build of torch cannot even map ``libtorch_cpu.so``; that is
    an ImportError too, and "not installed" would send the user to reinstall what is there."""
    if isinstance(exc, ModuleNotFoundError) and exc.name in ("torch", None):
        return None
    from .safetext import one_line

    return one_line(f"{type(exc).__name__}: {exc}")[:300]
