"""Will it fit? The per-device plan (nnshape/planning/): the arithmetic, pure Python.

The figures are proved against torch where torch has them: per-rank model states on
torch.distributed in tests/test_distributed.py, the parameter tensors, the optimizer state and a
real KV cache in tests/test_planning_torch.py. Here: the replay reproduces the analysis, the
sharding rules on hand-worked cases, tensor-parallel roles, pipeline stages, checkpointing, the
verdict and its search, the CLI, the budget file and the JSON schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.analysis import analyze_with_plan
from nnshape.api import load_source
from nnshape.cli import main
from nnshape.errors import NNShapeError
from nnshape.parser import parse
from nnshape.planning import make_parallel, plan_source
from nnshape.planning.replay import Replay
from nnshape.planning.roles import Roles
from nnshape.planning.sharding import fsdp_rows, greedy_partition

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))

# a tiny Llama: GQA attention with RoPE, a SwiGLU MLP (gate and up in a multiply), RMSNorm, untied head
LLAMA = """\
input ids 6 dtype=int64
embedding 64 16
repeat 2:
    residual:
        rmsnorm
        attention heads=4 kv_heads=2 causal=true rope=true bias=false
    residual:
        rmsnorm
        multiply:
            branch:
                linear 32 bias=false
                silu
            branch:
                linear 32 bias=false
        linear 16 bias=false
rmsnorm
linear 64 bias=false
"""


def analyzed(text_or_path, batch: int = 1, **kw):
    source = load_source(text_or_path)
    return analyze_with_plan(parse(source), source, batch=batch, **kw)


def plan(text_or_path, batch: int = 1, *, dtype="float32", optimizer="adam", amp=False, **options):
    return plan_source(load_source(text_or_path), make_parallel(**options), batch=batch, dtype=dtype, optimizer=optimizer, amp=amp)


# ---------------------------------------------------------------------------- the replay


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("batch", [1, 3])
def test_replay_reproduces_the_analysis(path, batch):
    """One rank's walk at tp 1 is the analysis again: saved-for-backward, peak and parameters."""
    summary, tree = analyzed(path, batch)
    replay = Replay(summary, tree, Roles(tree, 1), summary.memory.dtype)
    assert replay.tracker.saved_bytes == summary.memory.saved_for_backward_bytes
    assert replay.tracker.peak == summary.memory.inference_peak_bytes
    assert sum(u.params for u in replay.units) == summary.total_params
    assert sum(u.saved for u in replay.units) == summary.memory.saved_for_backward_bytes


def test_blocks_are_repeat_passes_and_top_level_layers():
    summary, tree = analyzed(ROOT / "examples" / "gpt2.nn")
    units = Replay(summary, tree, Roles(tree, 1), "float32").units
    assert [(u.path, u.copies, u.checkpointed) for u in units] == [
        ("wte", 1, False), ("wpe", 1, False), ("2", 1, False), ("3.0", 1, True), ("3.0 (+11)", 11, True), ("ln_f", 1, False)]
    hidden = 128 * 768 * 4
    assert all(u.input_bytes == hidden for u in units[3:5])


# ---------------------------------------------------------------------------- model states


def test_single_device_plan_is_the_training_estimate():
    for path in EXAMPLES:
        summary, _ = analyzed(path)
        m = summary.memory
        d = plan(path, dp=1).per_device()
        assert d["weights"] == m.params_bytes + m.buffers_bytes
        assert d["grads"] == m.gradients_bytes and d["optimizer"] == m.optimizer_bytes
        assert d["activations"] == m.saved_for_backward_bytes
        assert d["total"] == m.training_bytes


def test_zero_stages_by_hand():
    """Two linears, 10→8 (88 params) and 8→6 (54): weight/bias tensors of 80, 8, 48 and 6 elements."""
    spec = "input 10\nlinear 8\nrelu\nlinear 6\n"
    total = 88 + 54
    z0 = plan(spec, dp=4, zero=0).per_device()
    assert (z0["weights"], z0["grads"], z0["optimizer"]) == (4 * total, 4 * total, 8 * total)
    # ZeRO-1: ZeroRedundancyOptimizer's greedy partition of 80, 48, 8, 6 over 4 ranks: one each
    z1 = plan(spec, dp=4, zero=1)
    assert z1.ranks["optimizer"] == [8 * 80, 8 * 48, 8 * 8, 8 * 6]
    assert z1.ranks["grads"] == [4 * total] * 4
    z2 = plan(spec, dp=4, zero=2)
    assert z2.ranks["grads"] == [4 * 80, 4 * 48, 4 * 8, 4 * 6]
    # ZeRO-3 (FSDP2): rows chunked ceil(rows/4): weight 8×10 → 2 rows, bias 8 → 2, 6×8 → 2 rows, 6 → 2
    z3 = plan(spec, dp=4, zero=3)
    padded = 2 * 10 + 2 + 2 * 8 + 2
    assert z3.ranks["weights"] == [4 * padded] * 4
    # the optimizer state is for the unpadded chunk: rank 3 gets 2, 2, 0 and 0 rows
    assert z3.ranks["optimizer"] == [8 * padded, 8 * padded, 8 * padded, 8 * (2 * 10 + 2)]
    assert z3.padding == 4 * padded - 4 * -(-total // 4)


def test_fsdp_chunks_and_greedy_partition():
    assert [fsdp_rows(7, 4, r) for r in range(4)] == [2, 2, 2, 1]
    assert [fsdp_rows(5, 4, r) for r in range(4)] == [2, 2, 1, 0]
    assert [fsdp_rows(1, 4, r) for r in range(4)] == [1, 0, 0, 0]
    assert greedy_partition([(10, 1), (6, 2), (3, 3)], 2) == [16, 15]  # 10; 6; 6 → 12; 3 → 13; 3 → 15; 3 → 16
    assert greedy_partition([(5, 4)], 3) == [10, 5, 5]


def test_plan_tensors_are_each_kinds_rule():
    """The plan shards the tensors each kind states (Kind.param_tensors; tests/test_registry.py holds
    them to the twin); planning adds only the tensor-parallel cut, and nothing without a role."""
    from oracle import analyze_with_calls, example_source

    from nnshape import registry
    from nnshape.planning.tensors import param_tensors

    for kind in registry.all_kinds():
        for example in kind.examples:
            for obs in analyze_with_calls(example_source(example))[1]:
                ours = param_tensors(obs.call, obs.inference.params)
                assert [(t.name, t.shape) for t in ours] == [(n, tuple(s)) for n, s in obs.call.kind.param_tensors(obs.call)]
                assert all(t.cut == "none" and not t.grad_whole for t in ours)


def test_frozen_layers_hold_no_gradient_or_state():
    spec = "input 10\nlinear 8 trainable=false\nlinear 6\n"
    d = plan(spec, dp=2, zero=0).per_device()
    assert d["weights"] == 4 * (88 + 54) and d["grads"] == 4 * 54 and d["optimizer"] == 8 * 54


def test_optimizer_state_follows_the_parameters_dtype():
    """Issue 13: torch.optim keeps its state in the parameters' dtype; fp32 only with --amp."""
    bf16 = nnshape.summarize(ROOT / "examples" / "gpt2.nn", dtype="bfloat16")
    p = bf16.trainable_params
    assert bf16.memory.optimizer_bytes == 2 * 2 * p
    amp = nnshape.summarize(ROOT / "examples" / "gpt2.nn", dtype="bfloat16", amp=True)
    assert amp.memory.optimizer_bytes == 2 * 4 * p and amp.memory.master_weights_bytes == 4 * p
    momentum = nnshape.summarize(ROOT / "examples" / "gpt2.nn", dtype="float16", optimizer="momentum")
    assert momentum.memory.optimizer_bytes == 2 * p


def test_amp_shards_master_weights_with_the_optimizer_state():
    spec = "input 10\nlinear 8\nrelu\nlinear 6\n"
    d = plan(spec, dp=4, zero=1, amp=True)
    assert d.ranks["master_weights"] == [4 * 80, 4 * 48, 4 * 8, 4 * 6]
    assert d.ranks["optimizer"] == [8 * 80, 8 * 48, 8 * 8, 8 * 6]
    assert d.per_device()["weights"] == 2 * 142


# ---------------------------------------------------------------------------- tensor parallelism


def _roles(text, tp):
    summary, tree = analyzed(text)
    replay = Replay(summary, tree, Roles(tree, tp), "float32")
    return {node.path: role for node, _, role, _ in replay.layers}, replay


def test_megatron_pairs_in_a_llama_block():
    roles, _ = _roles(LLAMA, 2)
    assert roles["0"] == "vocab"
    body = {p[len("1.0."):]: r for p, r in roles.items() if p.startswith("1.0.")}  # the repeat's listed pass
    assert body["0.1"] == "heads"  # attention
    assert body["1.1.0.0"] == "column" and body["1.1.0.1"] == "split" and body["1.1.1.0"] == "column"  # gate, silu, up
    assert body["1.2"] == "row"  # down
    assert roles["3"] == "column"  # the LM head stays split (loss_parallel)
    assert roles["2"] == "replicated"  # the final norm


def test_a_norm_on_a_split_tensor_undoes_the_split():
    roles, _ = _roles("input 8\nlinear 16\nlayernorm\nlinear 8\ngelu\nlinear 4\n", 2)
    assert roles == {"0": "replicated", "1": "replicated", "2": "column", "3": "split", "4": "row"}


def test_indivisible_layers_stay_whole_and_say_why():
    _, replay = _roles("input 8\nlinear 15\ngelu\nlinear 8\n", 2)
    assert replay.roles.notes == {"0": "15 output features do not divide by tp 2"}
    roles, replay = _roles(ROOT.joinpath("examples", "gpt2.nn").read_text(), 4)
    assert roles["wte"] == "replicated" and "50257 rows" in replay.roles.notes["wte"]


def test_tensor_parallel_states_and_activations():
    """The split MLP's weights, grads and state halve; the activations between the pair halve too."""
    spec = "input 4x8\nlinear 32\ngelu\nlinear 8\n"
    one, two = plan(spec, tp=1), plan(spec, tp=2)
    full = 8 * 32 + 32 + 32 * 8 + 8
    assert one.per_device()["weights"] == 4 * full
    assert two.per_device()["weights"] == 4 * (8 * 32 // 2 + 32 // 2 + 32 * 8 // 2 + 8)  # the row layer's bias stays whole
    assert two.per_device()["activations"] == 4 * (4 * 8 + 4 * 16 + 4 * 16)  # x, fc out /2, gelu out /2


def test_what_every_rank_holds_whole_is_named():
    p = plan(ROOT / "examples" / "gpt2.nn", tp=2)
    assert p.tp_whole["row-parallel linear biases"] == 12 * 768  # c_proj
    assert p.tp_whole["attention biases"] == 12 * 768  # o_proj
    assert p.tp_whole["layernorm layers"] == 25 * 2 * 768
    assert p.tp_whole["embedding layers"] == 50257 * 768  # not split: 50257 rows
    assert p.tp_replicated == (("wte", "50257 rows do not divide by tp 2"),)


def test_zero3_names_the_gathered_layer():
    p = plan(ROOT / "examples" / "gpt2.nn", dp=8, zero=3)
    assert any("ZeRO-3 gathers" in n and "wte" in n for n in p.notes)


def test_attention_heads_split_and_kv_heads_per_rank():
    _, replay = _roles(LLAMA, 4)  # 2 KV heads over 4 ranks: one KV head per rank
    attn = [t for node, ts, role, _ in replay.layers if node.call.kind.name == "attention" for t in ts][:4]
    assert [t.local for t in attn] == [(4, 16), (4, 16), (4, 16), (16, 4)]


# ---------------------------------------------------------------------------- pipeline and checkpointing


def test_pipeline_stages_cover_the_network_in_order():
    p = plan(ROOT / "examples" / "gpt2.nn", pp=4)
    assert len(p.stages) == 4
    assert p.stages[0].first == "wte" and p.stages[-1].last == "ln_f"
    assert sum(s.params for s in p.stages) == 124_439_808
    assert [s.in_flight for s in p.stages] == [4, 3, 2, 1]
    assert p.stage.total == max(s.total for s in p.stages)


def test_pipeline_deeper_than_the_network_is_an_error():
    with pytest.raises(NNShapeError) as err:
        plan("input 8\nlinear 8\nlinear 8\n", pp=3)
    assert err.value.code == "E0533"


def test_full_checkpointing_keeps_block_inputs_and_rebuilds_one_block():
    path = ROOT / "examples" / "gpt2.nn"
    none, full = plan(path), plan(path, checkpoint="full")
    summary, tree = analyzed(path)
    units = Replay(summary, tree, Roles(tree, 1), "float32").units
    blocks = [u for u in units if u.checkpointed]
    kept = sum(u.saved for u in units if not u.checkpointed) + sum(u.input_bytes * u.copies for u in blocks)
    assert full.saved_per_micro_batch == kept
    assert full.recompute == max(u.saved // u.copies for u in blocks)
    assert full.per_device()["activations"] == kept + full.recompute < none.per_device()["activations"]


def test_selective_checkpointing_drops_the_score_tensors():
    spec = "input 16x32\nrepeat 2:\n    attention heads=4 dropout=0.1\n"
    none, sel = plan(spec), plan(spec, checkpoint="selective")
    scores = 2 * 3 * 4 * 16 * 16 * 4  # two layers' softmax, mask and dropped weights (N·H·L·L each), float32
    assert none.per_device()["activations"] - sel.per_device()["activations"] == scores
    fused = plan("input 16x32\nattention heads=4\n", checkpoint="selective")
    assert any("changes nothing" in n for n in fused.notes)


# ---------------------------------------------------------------------------- serving


def test_kv_cache_formula():
    """2 · layers · kv_heads · head_dim · T · B · bytes, split over tensor-parallel ranks."""
    p = plan(LLAMA, serve=True, context=100, concurrency=3)
    assert p.per_device()["kv_cache"] == 2 * 2 * 2 * 4 * 100 * 3 * 4
    assert p.per_device()["weights"] == 4 * nnshape.summarize(LLAMA).total_params
    assert plan(LLAMA, serve=True, context=100, concurrency=3, tp=2).per_device()["kv_cache"] == 2 * 2 * 1 * 4 * 100 * 3 * 4
    spec_len = plan(LLAMA, serve=True, dtype="bfloat16").per_device()["kv_cache"]
    assert spec_len == 2 * 2 * 2 * 4 * 6 * 1 * 2  # the spec's own 6 tokens


def test_cross_attention_caches_the_memory_once():
    p = plan(ROOT / "examples" / "transformer.nn", serve=True, context=50)
    # 6 decoder layers: self-attention over 50 tokens plus cross-attention over the 10-token memory
    assert p.per_device()["kv_cache"] == 6 * 2 * 512 * (50 + 10) * 4


# ---------------------------------------------------------------------------- the verdict


def test_verdict_and_the_largest_micro_batch():
    path = ROOT / "examples" / "gpt2.nn"
    p = plan(path, dp=8, zero=3, device_memory=10**9)
    best = p.largest["micro_batch"]
    assert p.fits and best > 1
    assert plan(path, dp=8, zero=3, micro_batch=best).total <= 10**9 < plan(path, dp=8, zero=3, micro_batch=best + 1).total


def test_nothing_fits():
    p = plan(ROOT / "examples" / "gpt2.nn", device_memory=10**6)
    assert p.fits is False and p.largest == {"micro_batch": 0} and p.headroom < 0


def test_largest_context_and_concurrency():
    p = plan(LLAMA, serve=True, context=1000, concurrency=2, device_memory=10**6)
    t = p.largest["context"]
    assert plan(LLAMA, serve=True, context=t, concurrency=2).total <= 10**6 < plan(LLAMA, serve=True, context=t + 1, concurrency=2).total
    b = p.largest["concurrency"]
    assert plan(LLAMA, serve=True, context=1000, concurrency=b).total <= 10**6 < plan(LLAMA, serve=True, context=1000, concurrency=b + 1).total


def test_gpu_table():
    p = plan(LLAMA, gpu="A100_40")
    assert p.budget == 40 * 10**9 and p.config.gpu == "a100-40"
    with pytest.raises(NNShapeError) as err:
        plan(LLAMA, gpu="h1000")
    assert err.value.code == "E0531" and "h100" in err.value.hint


@pytest.mark.parametrize("options", [
    {"dp": 0}, {"zero": 4}, {"checkpoint": "some"}, {"context": 5}, {"serve": True, "zero": 1},
    {"gpu": "h100", "device_memory": 5}, {"tp": True},
])
def test_bad_options_are_e0530(options):
    with pytest.raises(NNShapeError) as err:
        make_parallel(**options)
    assert err.value.code == "E0530"


def test_symbolic_sizes_need_values():
    with pytest.raises(NNShapeError) as err:
        plan("input (L, 8)\nlinear 8\n", dp=2)
    assert err.value.code == "E0532" and "L" in err.value.found
    bound = plan_source(load_source("input (L, 8)\nlinear 8\n"), make_parallel(dp=2), bindings={"L": 4})
    assert bound.per_device()["weights"] == 4 * 72


def test_api_accepts_text_sizes():
    s = nnshape.summarize(LLAMA, dp=2, zero=3, device_memory="1MB")
    assert s.device_plan.budget == 10**6
    assert s.to_dict(layers=False)["memory"]["per_device"]["total"] == s.device_plan.total


# ---------------------------------------------------------------------------- CLI, budget, schema


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_summary_footer_and_json():
    out = run("summary", ROOT / "examples" / "gpt2.nn", "--dp", "8", "--zero", "3", "--gpu", "h100")
    assert out.exit_code == 0, out.output
    assert "Per device:" in out.output and "Fits:" in out.output and "largest micro-batch" in out.output
    data = json.loads(run("summary", ROOT / "examples" / "gpt2.nn", "--tp", "2", "--serve", "--context", "64", "-f", "json").stdout)
    assert set(data["memory"]["per_device"]) == {"weights", "grads", "optimizer", "master_weights", "activations", "kv_cache", "total"}
    assert data["memory"]["plan"]["mode"] == "serving"


def test_no_planning_option_no_plan():
    data = json.loads(run("summary", ROOT / "examples" / "lenet5.nn", "-f", "json").stdout)
    assert "per_device" not in data["memory"]


def test_cli_rejects_bad_combinations():
    out = run("summary", ROOT / "examples" / "gpt2.nn", "--serve", "--zero", "1")
    assert out.exit_code == 2 and "serving" in out.output


def test_check_max_device_memory(tmp_path):
    spec = ROOT / "examples" / "gpt2.nn"
    assert run("check", spec, "--dp", "8", "--zero", "3", "--max-device-memory", "1GB").exit_code == 0
    out = run("check", spec, "--max-device-memory", "1GB")
    assert out.exit_code == 1 and "per-device memory" in out.output
    (tmp_path / "gpt2.nn").write_text(spec.read_text())  # a budget file's patterns stay in its folder
    budget = tmp_path / "nnshape.toml"
    budget.write_text('["gpt2.nn"]\nmax-device-memory = "1GB"\nplan = { dp = 8, zero = 3 }\n')
    assert run("check", "--budget", budget).exit_code == 0
    budget.write_text('["gpt2.nn"]\nplan = { dq = 8 }\n')
    out = run("check", "--budget", budget)
    assert out.exit_code == 2 and "unknown planning option 'dq'" in out.output


def test_plan_json_validates_strictly():
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.resources import files

    from helpers import strict

    schema = strict(json.loads((files("nnshape") / "schemas" / "summary.json").read_text(encoding="utf-8")))
    for args in (["--dp", "4", "--zero", "3", "--gpu", "l4"], ["--tp", "2", "--pp", "2", "--checkpoint", "full"],
                 ["--serve", "--context", "32", "--device-memory", "1GB"], ["--dp", "2", "--zero", "1", "--amp"]):
        data = json.loads(run("summary", ROOT / "examples" / "transformer.nn", "-f", "json", *args).stdout)
        jsonschema.Draft202012Validator(schema).validate(data)


def _console_examples():
    """(command, shown lines) of every ```console block of docs/will-it-fit.md that runs nnshape."""
    import re
    import shlex

    text = (ROOT / "docs" / "will-it-fit.md").read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        first, *shown = block.rstrip("\n").split("\n")
        if first.startswith("$ nnshape ") and "|" not in first:
            found.append((shlex.split(first[len("$ nnshape "):]), shown))
    return found


@pytest.mark.parametrize("args,shown", _console_examples(), ids=[f"example{i}" for i in range(len(_console_examples()))])
def test_will_it_fit_doc_examples(args, shown, monkeypatch):
    """Every line the page shows (between `...` elisions) is in the command's output, in order."""
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = 0
    for line in shown:
        if line == "...":
            continue
        assert line in lines[at:], f"not in the output (in order): {line}"
        at = lines.index(line, at) + 1


def test_doc_examples_are_found():
    assert len(_console_examples()) >= 5
