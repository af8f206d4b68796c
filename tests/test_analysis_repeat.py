"""nnshape.analysis.repeat: `repeat N as i:` (the index, folding of agreeing passes, the limits),
checked against torch where a network is built."""

from __future__ import annotations

import pytest

import nnshape
from nnshape.errors import NNShapeError
from nnshape.limits import MAX_UNROLLED_ROWS


def summary(text: str, **kw):
    return nnshape.summarize(text, **kw)


def error(text: str, **kw) -> NNShapeError:
    with pytest.raises(NNShapeError) as info:
        nnshape.summarize(text, **kw)
    return info.value


def verified(text: str, train_step: bool = False, **kw):
    pytest.importorskip("torch")
    from nnshape.verifier import verify

    report = verify(text, device="cpu", train_step=train_step, **kw)
    assert report.ok, [(c.path, c.mismatches, c.error) for c in report.layers if c.mismatches or c.error]
    return report


DROP = "input 64x8x8\nrepeat 4 as i:\n    residual:\n        conv 64 k3 p1\n        droppath 0.3 * i / 3\n"


def test_an_index_that_changes_no_count_folds_the_passes():
    s = summary(DROP)
    assert [r.path for r in s.layers] == ["0", "0.0.0", "0.0.0.0", "0.0.0.1", "0.1.0", "0.1.0.0", "0.1.0.1"]
    folded = s.layers[-1]
    assert folded.repeat == 3 and folded.label == "droppath 0.1…0.3"
    assert s.total_params == 4 * (64 * 64 * 9 + 64)
    assert s.layers[0].collapsed == 3 and s.layers[0].label == "repeat 4 as i"
    verified(DROP)


def test_the_totals_are_every_pass_and_torch_agrees():
    text = "input 8x16x16\nrepeat 3 as i:\n    conv 16 * 2**i k3 s=min(2, i + 1) p1\n"
    s = summary(text)
    assert [r.output_shape for r in s.layers[1:]] == [(1, 16, 16, 16), (1, 32, 8, 8), (1, 64, 4, 4)]
    assert all(r.repeat == 1 for r in s.layers)
    verified(text)


def test_a_body_that_does_not_read_the_index_collapses_as_before():
    plain = summary("input 64\nrepeat 10**9:\n    linear 64\n")
    indexed = summary("input 64\nrepeat 10**9 as i:\n    linear 64\n")
    assert indexed.total_params == plain.total_params and len(indexed.layers) == len(plain.layers)
    assert indexed.layers[1].repeat == 10**9


def test_the_index_in_a_condition_and_a_def_argument():
    text = """\
def stage(c, s, p):
    residual:
        conv c k3 s=s p1
        bn
        droppath p
    shortcut:
        conv c k1 s=s
input 16x8x8
repeat 4 as i:
    if i == 0:
        stage 32 2 0
    else:
        stage 32 1 0.2 * i / 3
"""
    s = summary(text)
    calls = [r for r in s.layers if r.kind == "call"]
    assert [c.repeat for c in calls] == [1, 3] and calls[1].label == "stage 32 1 0.0666667…0.2"
    report = verified(text, train_step=True, batch=2)
    step = report.train_step
    assert step.error is None
    assert abs(step.analytic_saved_bytes - step.saved_for_backward_bytes) <= 0.1 * step.saved_for_backward_bytes


def test_export_writes_every_pass_with_its_own_arguments():
    from nnshape.verifier import analyze_spec
    from nnshape.verifier.export import export_source

    text = export_source(*analyze_spec(DROP))
    rates = [line.split("DropPath(p=")[1].split(",")[0] for line in text.splitlines() if "DropPath(p=" in line]
    assert [round(float(r), 6) for r in rates] == [0.0, 0.1, 0.2, 0.3]


def test_runs_fold_anywhere_not_only_at_the_end():
    s = summary("input 16\nrepeat 5 as i:\n    if i == 2:\n        linear 16 bias=false\n    else:\n        linear 16\n")
    assert [(r.path, r.repeat) for r in s.layers] == [("0", 1), ("0.0.0", 2), ("0.2.0", 1), ("0.3.0", 2)]


def test_an_indexed_repeat_is_bounded():
    err = error(f"input 4\nrepeat {MAX_UNROLLED_ROWS + 10} as i:\n    let x = i\n")
    assert err.code == "E0507"
    err = error("input 4\nrepeat 1000 as i:\n    repeat 1000 as j:\n        linear 4 bias=(i + j > 0)\n")
    assert err.code == "E0507"


def test_index_name_rules():
    assert error("input 4\nrepeat 2 as if:\n    relu\n").code in ("E0131", "E0151", "E0120")
    assert error("input 4\nrepeat 2 as repeat:\n    relu\n").code == "E0131"
