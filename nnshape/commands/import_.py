"""`nnshape import hf|torch`: write a spec from a HuggingFace config.json or a PyTorch module."""

from __future__ import annotations

import sys

import click

from ..cli import EXIT_NO_TORCH, fail
from ..safetext import one_line


@click.group(name="import")
def import_() -> None:
    """Write a spec from a HuggingFace config.json (hf) or a PyTorch module (torch)."""


def _write(text: str, output: str | None, what: str) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as fh:
        fh.write(text)
    click.echo(f"wrote {one_line(str(output))} ({what})", err=True)


@import_.command()
@click.argument("config", metavar="CONFIG", required=False)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None, help="Write the spec here (default: stdout).")
@click.option("--head", type=click.Choice(["base", "causal-lm", "masked-lm", "classifier", "seq2seq-lm", "encoder"]), default=None,
              help="Which model to write (default: the config's architectures[0]).")
@click.option("--ignore", "ignore", multiple=True, metavar="FIELD", help="A config field you know changes no count (repeatable).")
@click.option("--list", "list_", is_flag=True, help="List the supported model types and exit.")
def hf(config: str | None, output: str | None, head: str | None, ignore: tuple[str, ...], list_: bool) -> None:
    """A spec from a HuggingFace CONFIG (config.json, or the directory holding it).

    Pure JSON reading: neither transformers nor a download is needed. The sequence length is the
    symbol L (`nnshape summary OUT --set L=4096`)."""
    from ..errors import NNShapeError
    from ..importers.hf import import_hf, list_types

    if list_:
        for name, heads, covers in list_types():
            click.echo(f"{name:<18} {heads:<36} {covers}")
        return
    if config is None:
        raise click.UsageError("missing CONFIG (or --list)")
    try:
        text = import_hf(config, head=head, ignore=ignore)
    except NNShapeError as err:
        fail(err)
    _write(text, output, "from " + config)


@import_.command()
@click.argument("target", metavar="MODULE:CALLABLE")
@click.option("--input", "inputs", multiple=True, metavar="[NAME=]SHAPE",
              help="Per-sample shape of an input, e.g. 3x224x224 (repeatable, in forward's order; "
              "add :int64 for token ids); NAME=SHAPE passes it by name, after the positional ones "
              "(decoder_input_ids=5:int64). Default: 3x224x224.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None, help="Write the spec here (default: stdout).")
@click.option("--allow-partial", is_flag=True, help="Write what maps, with a comment for each op that does not (instead of failing).")
@click.option("--no-verify", is_flag=True, help="Skip checking the spec's parameters and MACs against the module's.")
@click.option("--arg", "args", multiple=True, metavar="NAME=VALUE", help="Keyword argument for the callable (repeatable; VALUE is a number, true/false or a word).")
def torch(target: str, inputs: tuple[str, ...], output: str | None, allow_partial: bool, no_verify: bool, args: tuple[str, ...]) -> None:
    """A spec from a PyTorch module: MODULE:CALLABLE builds it (e.g. torchvision.models:resnet50).

    This imports MODULE and calls CALLABLE: it runs that code, as `python -c` would. Use it on
    code you trust. The spec is verified against the module's own parameter count and MACs."""
    import importlib.util

    from ..errors import NNShapeError

    if importlib.util.find_spec("torch") is None:
        from ..install import install_command

        click.echo(f"nnshape import torch needs PyTorch, which is not installed: {install_command('torch', 'torch')}", err=True)
        sys.exit(EXIT_NO_TORCH)
    from ..importers.torch_fx import import_target

    try:
        text, what = import_target(target, inputs, kwargs=args, allow_partial=allow_partial, verify=not no_verify)
    except NNShapeError as err:
        fail(err)
    _write(text, output, what)
