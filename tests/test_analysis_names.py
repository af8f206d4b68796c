"""nnshape.analysis.names: `as NAME`, the one-line `from NAME`, tensors passed to a def by name,
`NAME[d]` / `in[d]` sizes, and where a stored name is visible (a def call's own names are local).
Each network that runs is also built and run in torch (verify), and exported and run again."""

from __future__ import annotations

import pytest

import nnshape
from nnshape.errors import NNShapeError

def summary(text: str, **kw):
    return nnshape.summarize(text, **kw)


def error(text: str, **kw) -> NNShapeError:
    with pytest.raises(NNShapeError) as info:
        nnshape.summarize(text, **kw)
    return info.value


def verified(text: str, **kw):
    """The analysis, after checking that torch agrees on every row and the exported file runs."""
    pytest.importorskip("torch")
    from nnshape.verifier import verify

    report = verify(text, device="cpu", **kw)
    bad = [(c.path, c.label, c.mismatches, c.error) for c in report.layers if c.mismatches or c.error]
    assert report.ok, (bad, report.error)
    _export_runs(text, **kw)
    return nnshape.summarize(text, **kw)


def _export_runs(text: str, batch: int = 1) -> None:
    import torch

    from nnshape.verifier import analyze_spec
    from nnshape.verifier.export import export_source

    summary, plan = analyze_spec(text, batch=batch)
    namespace: dict = {}
    exec(compile(export_source(summary, plan), "<export>", "exec"), namespace)  # noqa: S102 - our own generated file
    model = namespace["Model"]().eval()
    inputs = [torch.randn(*(int(d) for d in inp.shape)) for inp in summary.inputs]
    assert tuple(model(*inputs).shape) == tuple(summary.output_shape)


UNET = """\
def up(c, skip):
    upsample size=skip[2:]
    concat:
        branch: identity
        branch: from skip
    conv c k3 p1 as y
    from y
input 3x16x16
conv 8 k3 p1 as e1
maxpool 2
conv 16 k3 p1 as e2
maxpool 2
conv 32 k3 p1
up 16 e2
up 8 e1
"""


def test_unet_levels_with_tensor_arguments_against_torch():
    s = verified(UNET)
    assert s.output_shape == (1, 8, 16, 16)
    labels = [r.label for r in s.layers if r.kind == "call"]
    assert labels == ["up 16 e2", "up 8 e1"]  # a tensor argument is shown by its name
    concat_inputs = [r.output_shape for r in s.layers if r.label == "from skip"]
    assert concat_inputs == [(1, 16, 8, 8), (1, 8, 16, 16)]


def test_as_keeps_the_current_tensor_and_stores_it():
    s = summary("input 4\nlinear 8 as h\nrelu\nconcat:\n    branch: from h\n    branch: identity\n")
    assert s.output_shape == (1, 16)
    assert [r.label for r in s.layers][-4:] == ["branch", "from h", "branch", "identity"]


def test_as_on_a_def_call_stores_its_output():
    text = "def f(c):\n    linear c\ninput 4\nf 6 as z\nlinear 2\nconcat:\n    branch: from z\n    branch: identity\n"
    assert verified(text).output_shape == (1, 8)


def test_a_name_stored_in_a_def_is_local_to_the_call():
    text = "def f(c):\n    linear c as t\n    relu\ninput 4\nf 3\nfrom t\n"
    err = error(text)
    assert err.code == "E0204" and err.span.line == 6
    # each call has its own: the second call's `t` does not replace the first's
    text = "def f(c):\n    linear c as t\n    relu\n    from t\ninput 4\nf 3\nf 5\n"
    assert verified(text).output_shape == (1, 5)


def test_a_local_name_shadows_a_top_level_one_only_inside_the_call():
    text = (
        "def f():\n    linear 3 as t\n    from t\n"
        "input 4\nlinear 7 as t\nf\nconcat:\n    branch: from t\n    branch: identity\n"
    )
    assert verified(text).output_shape == (1, 10)  # t after the call is the top-level 7-wide one


def test_a_def_reads_top_level_names_where_it_is_written():
    text = "input 4\nlinear 6 as g\ndef f():\n    from g\nrelu\nf\n"
    assert summary(text).output_shape == (1, 6)


def test_kv_reads_a_tensor_argument():
    text = (
        "def cross(mem):\n    mha heads=2 kv=mem\ninput src 5x8\ninput tgt 3x8\n"
        "from src as m:\n    linear 8\nfrom tgt:\n    cross m\n"
    )
    assert verified(text).output_shape == (1, 3, 8)


def test_sizes_of_in_and_of_a_name():
    s = summary("input 6x10x12\nconv in[1] * 2 k1 groups=in[1]\nlinear in[-1] // 2\nflatten 1 -1\n")
    assert s.output_shape == (1, 12 * 10 * 6)
    s = summary("input a 3x8x8\ninput b 5x4x4\nconv b[1] k1\nupsample size=b[2:]\nlinear a[-1]\n")
    assert s.output_shape == (1, 5, 4, 8)


def test_in_on_the_first_line_of_a_branch_is_the_branch_input():
    s = summary("input 4x8x8\nconv 6 k1\nconcat:\n    branch: conv in[1] k1\n    branch:\n        conv 2 k1\n        conv in[1] k1\n")
    assert s.output_shape == (1, 8, 8, 8)


def test_sizes_are_errors_where_they_do_not_exist():
    assert error("input 3x8x8\nconv in[4] k1\n").code == "E0460"
    assert error("let c = in[1]\ninput 3x8x8\n").code == "E0211"
    assert error("input 3x8x8\nconv nope[1] k1\n").code == "E0204"
    assert error("let c = 4\ninput 3x8x8\nconv c[0] k1\n").code == "E0363"
    assert error("input 3x8x8\nconv in[1:2:3:4] k1\n").code == "E0152"


def test_a_line_reading_another_tensors_sizes_is_not_shared_by_reuse():
    text = "def f(t):\n    linear t[-1]\ninput a 4\ninput b 6\nf a\nf b\n"
    s = summary(text)
    assert [r.output_shape for r in s.layers if not r.is_block] == [(1, 4), (1, 6)]


def test_the_plan_refers_to_keys_and_export_stores_them():
    from nnshape.verifier import analyze_spec
    from nnshape.verifier.export import export_source

    summary_, plan = analyze_spec(UNET)
    text = export_source(summary_, plan)
    assert "store='e1'" in text and "From('e2', None)" in text and "From('e1', None)" in text
    assert "store='y#1'" in text and "store='y#2'" in text and text.count("Call()") == 2


def test_as_errors():
    assert error("input 16\nlinear 8 as h bias=false\n").code == "E0151"
    assert error("input 16\nlinear 8 as\n").code == "E0151"
    assert error("input 16\nresidual as r:\n    relu\n").code == "E0151"
    assert error("input 16\nlinear 16 as repeat\n").code == "E0131"
    assert error("input x 16\nlinear 16 as x\n").code == "E0206"


def test_names_may_equal_kind_names_but_defs_and_keywords_may_not():
    assert summary("input 16\nlinear 8 as linear\nconcat:\n    branch: from linear\n    branch: identity\n").output_shape == (1, 16)
    assert error("def linear(c):\n    relu\ninput 4\n").code == "E0203"
    assert error("def block(c):\n    linear c\ninput 16\nblock 8\n").code == "E0131"
    assert error("def f(repeat):\n    relu\ninput 4\n").code == "E0131"
    assert error("input 4\nlet in = 3\n").code == "E0131"
