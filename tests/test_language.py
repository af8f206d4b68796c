"""The spec language, construct by construct: each test states the rule and a hand-computed result."""

from __future__ import annotations

import textwrap

import pytest

import nnshape
from nnshape import NNShapeError, SpecArgumentError, SpecLimitError, SpecNameError, SpecShapeError, SpecSyntaxError
from nnshape.symbolic import Poly


def summarize(text: str, **kw):
    return nnshape.summarize(textwrap.dedent(text), **kw)


def test_lecture_conv_example_3x3_p1_k2_gives_4x4():
    # lecture notes: OH = (3 + 2·1 − 2)/1 + 1 = 4
    s = summarize("input 1x3x3\nconv 1 k2 p1\n")
    assert s.output_shape == (1, 1, 4, 4)
    assert s.total_params == 1 * 1 * 2 * 2 + 1


def test_input_forms_agree():
    a = summarize("input 3x32x32\nconv2d 8 k3\n")
    b = summarize("input (3, 32, 32)\nconv2d 8 k=3\n")
    c = summarize("let size = 32\ninput (3, size, size)\nconv2d out_channels=8 kernel_size=3\n")
    assert a.output_shape == b.output_shape == c.output_shape == (1, 8, 30, 30)
    assert a.total_macs == b.total_macs == c.total_macs == 8 * 30 * 30 * 3 * 9


def test_compact_form_and_aliases():
    a = summarize("input 3x32x32\nconv 64 k3 s2 p1\n")
    b = summarize("input 3x32x32\nconv2d 64 kernel_size=3 stride=2 padding=1\n")
    assert a.output_shape == b.output_shape == (1, 64, 16, 16)


def test_compact_form_yields_to_a_bound_name():
    s = summarize("let k3 = 5\ninput 8\nlinear k3\n")
    assert s.output_shape == (1, 5)


def test_expressions_and_signs():
    s = summarize("let d = 64\ninput 3x8x8\nconv2d d*2 k=(3, 1) p=(1, 0)\nflatten\nlinear d // 2 + 1\n")
    assert s.output_shape == (1, 33)
    t = summarize("input 2x3x4\npermute 0 2 -1 1\n")
    assert t.output_shape == (1, 3, 4, 2)


def test_case_insensitive_kinds_and_keys():
    s = summarize("input 10\nLinear 5 BIAS=false\nReLU\n")
    assert s.total_params == 50


def test_batch_is_dim_zero_and_first_in_shapes():
    s = summarize("input 3x8x8\nconv2d 4 k3\n", batch=5)
    assert s.output_shape == (5, 4, 6, 6)
    assert s.total_macs == 5 * 4 * 6 * 6 * 3 * 9


def test_residual_identity_adds_no_params():
    s = summarize(
        """
        input 16
        residual:
            linear 16
            relu
        """
    )
    assert s.output_shape == (1, 16)
    assert s.total_params == 16 * 16 + 16
    assert [r.kind for r in s.layers] == ["residual", "linear", "relu"]
    assert s.layers[1].path == "0.0"


def test_residual_with_shortcut():
    s = summarize(
        """
        input 8x16x16
        residual:
            conv2d 16 k3 s2 p1
        shortcut:
            conv2d 16 k1 s2 bias=false
        """
    )
    assert s.output_shape == (1, 16, 8, 8)
    assert s.total_params == (16 * 8 * 9 + 16) + 16 * 8
    assert s.layer("0.shortcut").kind == "shortcut"
    assert s.layer("0.shortcut.0").params == 128


def test_concat_add_multiply():
    s = summarize(
        """
        input 8x4x4
        concat:
            branch:
                conv2d 3 k1
            branch: identity
        """
    )
    assert s.output_shape == (1, 11, 4, 4)
    a = summarize(
        """
        input 10
        add:
            branch:
                linear 4
            branch:
                linear 4 bias=false
        """
    )
    assert a.output_shape == (1, 4) and a.total_params == 44 + 40
    m = summarize(
        """
        input 8x4x4
        multiply:
            branch: identity
            branch:
                adaptiveavgpool2d 1
                conv2d 8 k1
                sigmoid
        """
    )
    assert m.output_shape == (1, 8, 4, 4)  # broadcasting, as in squeeze-excitation


def test_concat_on_last_dim_with_negative_index():
    s = summarize(
        """
        input 5x6
        concat dim=-1:
            branch:
                linear 2
            branch:
                linear 3
        """
    )
    assert s.output_shape == (1, 5, 5)


def test_repeat_collapses_shape_preserving_body():
    s = summarize(
        """
        input 32
        repeat 10**9:
            linear 32
            relu
        """
    )
    assert s.total_params == 10**9 * (32 * 32 + 32)
    assert s.total_macs == 10**9 * 32 * 32
    rep = s.layers[0]
    assert rep.kind == "repeat" and rep.collapsed == 10**9
    assert s.layers[1].repeat == 10**9


def test_nested_repeats_multiply():
    s = summarize(
        """
        input 4
        repeat 1000:
            repeat 1000:
                linear 4 bias=false
        """
    )
    assert s.total_params == 16 * 10**6
    assert s.layers[-1].repeat == 10**6


def test_repeat_that_changes_shape_is_unrolled():
    s = summarize(
        """
        input 3x32x32
        repeat 3:
            conv2d 8 k3 s2 p1
        """
    )
    assert s.output_shape == (1, 8, 4, 4)
    assert [r.path for r in s.layers] == ["0", "0.0.0", "0.1.0", "0.2.0"]
    assert s.total_params == (8 * 3 * 9 + 8) + 2 * (8 * 8 * 9 + 8)


def test_repeat_zero_is_identity():
    s = summarize("input 7\nrepeat 0:\n    linear 3\n")
    assert s.output_shape == (1, 7) and s.total_params == 0


def test_block_names_paths():
    s = summarize(
        """
        input 3x8x8
        block stem:
            conv2d 4 k3 p1 name=conv1
            relu
        """
    )
    assert [r.path for r in s.layers] == ["stem", "stem.conv1", "stem.1"]
    assert s.layer("stem").params == 4 * 27 + 4


def test_def_with_defaults_and_nested_calls():
    s = summarize(
        """
        def unit(ch, k=3):
            conv2d ch k=k p=k//2
            relu
        def pair(ch):
            unit ch
            unit ch k=1
        input 3x8x8
        pair 4
        """
    )
    assert s.output_shape == (1, 4, 8, 8)
    assert s.total_params == (4 * 3 * 9 + 4) + (4 * 4 * 1 + 4)
    assert s.layers[0].kind == "call" and s.layers[0].label == "pair 4"


def test_def_accepts_any_value():
    s = summarize(
        """
        def proj(k, act):
            conv2d 2 k=k
            gelu approximate=act
        input 1x5x7
        proj 3x5 'tanh'
        """
    )
    assert s.output_shape == (1, 2, 3, 3)


def test_from_and_output_named_tensors():
    s = summarize(
        """
        input a 10
        input b 20
        from b as hb:
            linear 5
        from a:
            linear 7
        output hb
        """
    )
    assert s.output_shape == (1, 5)
    assert s.output_name == "hb"
    assert s.total_params == 20 * 5 + 5 + 10 * 7 + 7


def test_first_input_is_current():
    s = summarize("input a 10\ninput b 20\nlinear 3\n")
    assert s.layers[0].input_shapes == ((1, 10),)


def test_symbolic_sequence_length():
    s = summarize("input (L, 64)\nlinear 128\nrelu\n")
    L = Poly.symbol("L")
    assert s.output_shape == (1, L, 128)
    assert s.total_params == 64 * 128 + 128
    assert s.total_macs == L * 64 * 128
    bound = summarize("input (L, 64)\nlinear 128\n", L=10)
    assert bound.total_macs == 10 * 64 * 128


def test_symbolic_length_that_a_rule_needs_is_an_error():
    with pytest.raises(NNShapeError) as err:
        summarize("input (3, L)\nconv1d 4 k3 s2\n")
    assert "L" in str(err.value) and "--set L=" in str(err.value)


def test_trainable_false_freezes():
    s = summarize("input 10\nlinear 10 trainable=false\nlinear 2\n")
    assert s.total_params == 110 + 22
    assert s.trainable_params == 22
    assert s.non_trainable_params == 110


def test_comments_blank_lines_and_continuation():
    s = summarize(
        """
        # a comment

        input (3,
               16, 16)   # shape over two lines
        conv2d 4 k3      # trailing comment
        """
    )
    assert s.output_shape == (1, 4, 14, 14)


@pytest.mark.parametrize(
    "text,error",
    [
        ("", SpecSyntaxError),
        ("linear 3\n", SpecSyntaxError),
        ("input 3\n\tlinear 3\n", SpecSyntaxError),
        ("input 3\nlinear 3 / 0\n", SpecArgumentError),
        ("input 3x8x8\nconv2d 3 k3 s0\n", SpecArgumentError),
        ("input 3\nlinar 3\n", SpecNameError),
        ("input 3\nlinear 3 bais=false\n", SpecNameError),
        ("def f(x):\n    f x\ninput 3\nf 1\n", SpecLimitError),
        ("input 3\nrepeat 10**30:\n    relu\n", SpecLimitError),
        ("input 3x4x4\nresidual:\n    conv2d 5 k1\n", SpecShapeError),
        ("input 3x4x4\nconv2d 5 k9\n", SpecShapeError),
        ("input 3\n  linear 4\n", SpecSyntaxError),
        ("input 3\nresidual:\nlinear 3\n", SpecSyntaxError),
        ("input 3\nshortcut:\n    linear 3\n", SpecSyntaxError),
        ("input 3\nlinear (3\n", SpecSyntaxError),
        ("\x00\x01\x02", SpecSyntaxError),
    ],
)
def test_bad_specs_raise_located_errors(text, error):
    with pytest.raises(error) as info:
        nnshape.summarize(text)
    rendered = str(info.value)
    assert rendered.startswith("<string>:")
    assert "error[E" in rendered


def test_invalid_utf8_is_a_read_error(tmp_path):
    path = tmp_path / "bad.nn"
    path.write_bytes(b"input 3\n\xff\xfe linear 3\n")
    with pytest.raises(nnshape.SpecReadError) as info:
        nnshape.summarize(path)
    assert str(info.value).startswith(f"{path}:2:1: error[E0002]")


def test_binding_overrides_a_top_level_let():
    text = "let L = 16\ninput (L, 8)\nlinear 4\n"
    assert summarize(text).output_shape == (1, 16, 4)
    assert summarize(text, L=128).output_shape == (1, 128, 4)


def test_def_parameters_match_keywords_case_insensitively():
    s = summarize("def f(Ch):\n    linear Ch\ninput 8\nf Ch=3\n")
    assert s.output_shape == (1, 3)


def test_duplicate_row_names_are_an_error():
    with pytest.raises(SpecNameError) as err:
        summarize("input 8\nlinear 4 name=a\nlinear 4 name=a\n")
    assert err.value.code == "E0208" and err.value.line == 3
