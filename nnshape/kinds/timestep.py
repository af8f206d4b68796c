"""``timesteps``: the sinusoidal timestep embedding of diffusion models (diffusers' ``Timesteps``).

N timesteps (one number per sample, integer or float) become N×C features: half sines, half
cosines of t·exp(−ln(max_period)·j/(C/2 − freq_shift)), j = 0 … C/2 − 1, optionally flipped
(cos first), times ``scale``; an odd C gets a zero column. No parameters, no MACs (elementwise).
"""

from __future__ import annotations

from ..registry import Arg, Call, Inference, Kind, register
from ..tensor import format_shape
from ..twinspec import Twin


@register
class Timesteps(Kind):
    name = "timesteps"
    aliases = ("timestep", "timestep_embedding")
    family = "sequence"
    doc = "Sinusoidal timestep embedding of diffusion models: N timesteps → N×C (diffusers' Timesteps)."
    torch_twin = "nnshape.Timesteps (= diffusers.models.embeddings.Timesteps)"
    accepts = "any"  # integer or float timesteps
    saves = "nothing"  # no parameters, and the timesteps never need a gradient
    args = (
        Arg("num_channels", "int", positional=True, min=1, aliases=("channels", "c", "dim", "embedding_dim"), doc="features per timestep"),
        Arg("flip_sin_to_cos", "bool", False, positional=True, aliases=("flip",), doc="cosines first (SD's UNet: true)"),
        Arg("downscale_freq_shift", "number", 1, positional=True, aliases=("freq_shift", "shift"),
            doc="the frequencies' denominator is C/2 − shift (SD's UNet: 0)"),
        Arg("scale", "number", 1, doc="multiplies the angles"),
        Arg("max_period", "number", 10000, min=1, doc="the slowest frequency's period"),
    )
    formulas = ("output = N × C (float32)", "params = 0", "MACs = 0 (elementwise)")
    examples = (
        "1 dtype=int64 | timesteps 320",
        "1 dtype=int64 | timesteps 32 true 0",
        "1 | timesteps 7 flip_sin_to_cos=true freq_shift=0.5 scale=2 max_period=100",
    )

    def infer(self, call: Call) -> Inference:
        x = call.x
        if x.rank > 2 or (x.rank == 2 and x.shape[1] != 1):
            call.fail(
                f"reads one timestep per sample, found {format_shape(x.shape)}",
                expected="shape N or N×1 (e.g. `input t 1 dtype=int64`)",
                found=format_shape(x.shape),
                hint="diffusers' Timesteps takes a 1-D tensor of N timesteps",
                code="E0402",
            )
        a = call.args
        if a.num_channels // 2 == a.downscale_freq_shift:
            call.bad_arg(
                "downscale_freq_shift", "the frequencies divide by C/2 − freq_shift, which is 0 here",
                expected=f"freq_shift ≠ {a.num_channels // 2}",
            )
        return Inference((x.shape[0], a.num_channels), dtype="float32")

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.own("Timesteps", num_channels=a.num_channels, flip_sin_to_cos=a.flip_sin_to_cos,
                        downscale_freq_shift=a.downscale_freq_shift, scale=a.scale, max_period=a.max_period)
