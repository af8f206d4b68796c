"""nnshape/suggest.py and registry.kind_hint: "did you mean" for an unknown kind — synonyms from
other frameworks, prefixes, substrings, then spelling; one suggestion per kind; block keywords named
as blocks; the spec's own defs first."""

from __future__ import annotations

import pytest

import nnshape
from nnshape import registry


def fails(text: str, code: str) -> nnshape.NNShapeError:
    with pytest.raises(nnshape.NNShapeError) as info:
        nnshape.summarize(text)
    assert info.value.code == code, str(info.value)
    return info.value


@pytest.mark.parametrize(
    "word,first",
    [("mean", None), ("chunk", "slice"), ("narrow", "slice"), ("reduce_mean", "mean"), ("zeropad2d", "pad"),
     ("reflectionpad2d", "pad"), ("conv2", "conv2d"), ("pixel", "pixelshuffle"), ("shuffle", "pixelshuffle"),
     ("lin", "linear"), ("crop", "randomcrop"), ("squeez", "squeeze"), ("hswish", "hardswish"), ("max", "amax"),
     ("localresponse", "localresponsenorm"), ("quickgel", "quickgelu")],
)
def test_kind_suggestions(word, first):
    if first is None:
        assert registry.find(word) is not None
        return
    hint = registry.kind_hint(word)
    assert hint and hint.startswith(f"did you mean `{first}`"), hint


def test_suggestions_name_each_kind_once_and_blocks_as_blocks():
    hint = registry.kind_hint("avgpool2")
    assert hint.count("avg_pool2d") + hint.count("`avgpool2d`") == 1
    assert "block" in registry.kind_hint("cat") and "`concat:`" in registry.kind_hint("cat")
    assert "`add:`" in registry.kind_hint("add")
    err = fails("input 16\nmul\n", "E0202")
    assert "`multiply:`" in err.hint
    err = fails("def myblock(c):\n    linear c\ninput 16\nmyblok 4\n", "E0202")
    assert err.hint.startswith("did you mean `myblock`")


def test_layers_command_suggests():
    from click.testing import CliRunner

    from nnshape.cli import main

    result = CliRunner().invoke(main, ["layers", "mean"])
    assert result.exit_code == 0 and "torch.mean" in result.output
    result = CliRunner().invoke(main, ["layers", "chunk"])
    assert result.exit_code != 0 and "did you mean `slice`" in result.output
