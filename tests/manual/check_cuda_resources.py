"""On a machine with a CUDA GPU: verify's check before building (nnshape/resources.py) on CUDA.

CI has no GPU, so the CUDA branch of ``check_build`` (the tensors against the device's free memory
from ``torch.cuda.mem_get_info``, the modules against the host) is proved here, from outside, as a
user runs it (``python -m nnshape verify``, under ``timeout``):

1. a network that fits verifies (exit 0) on cuda, also with ``--train-step``;
2. a network whose activations exceed the GPU's free memory is refused before anything is built:
   exit 1, E0508, located, naming the device's free memory, in seconds (no CUDA allocation);
3. under ``prlimit --as=2500000000``: on cpu still E0508 (checked before torch is imported); on
   cuda, where torch itself cannot map its libraries, status 3 saying so (not "not installed").

``python tests/manual/check_cuda_resources.py`` from the repository root; NNSHAPE_CHECK_DEVICE=cpu
tries it on the CPU. Prints one line per check; exit 1 if one fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVICE = os.environ.get("NNSHAPE_CHECK_DEVICE", "cuda")
# 1024 channels of 16384 x 16384 float32 after the conv: 1.1 TB, past any GPU's and host's memory
HUGE = "input 64x16384x16384\nconv2d 1024 k3 p1\nrelu\n"
FITS = "input 3x64x64\nconv2d 16 k3 p1\nbatchnorm2d\nrelu\nmaxpool2d 2\nflatten\nlinear 10\n"


def nnshape(*args: str, limit_as: int | None = None, timeout: int = 240) -> tuple[int, str, float]:
    cmd = [sys.executable, "-m", "nnshape", *args]
    if limit_as:
        cmd = ["prlimit", f"--as={limit_as}", *cmd]
    start = time.monotonic()
    proc = subprocess.run(["timeout", "-s", "KILL", str(timeout), *cmd], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def main() -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        fits, huge = Path(tmp) / "fits.nn", Path(tmp) / "huge.nn"
        fits.write_text(FITS)
        huge.write_text(HUGE)
        checks = [
            ("fits", ["verify", "--device", DEVICE, str(fits)], None, 0, None),
            ("fits, train step", ["verify", "--device", DEVICE, "--train-step", str(fits)], None, 0, None),
            ("huge: refused before building", ["verify", "--device", DEVICE, str(huge)], None, 1, "error[E0508]"),
            ("huge, train step", ["verify", "--device", DEVICE, "--train-step", str(huge)], None, 1, "error[E0508]"),
            # a CUDA build of torch cannot load under 2.5 GB of address space: on cpu the check needs no torch
            ("huge on cpu under prlimit --as=2.5G", ["verify", "--device", "cpu", str(huge)], 2_500_000_000, 1, "error[E0508]"),
            ("fits under prlimit --as=2.5G", ["verify", "--device", DEVICE, str(fits)], 2_500_000_000, (0, 3), None),
        ]
        for label, args, limit_as, want_rc, want_text in checks:
            rc, out, seconds = nnshape(*args, limit_as=limit_as)
            ok = rc in (want_rc if isinstance(want_rc, tuple) else (want_rc,)) and (want_text is None or want_text in out) and "Traceback" not in out
            if want_text and DEVICE == "cuda" and limit_as is None:
                ok = ok and "free memory" in out
            if rc == 3:
                ok = ok and "could not be loaded" in out
            failed += not ok
            first = next((line for line in out.splitlines() if "error[" in line or "found:" in line), out.strip().splitlines()[-1:] or [""])
            print(f"{'ok  ' if ok else 'FAIL'} {label}: rc={rc} {seconds:.1f}s  {first if isinstance(first, str) else first[0]}", flush=True)
            if not ok:
                print(out[-3000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
