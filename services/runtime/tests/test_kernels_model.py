"""The fast path inside transformers' Mamba: same model outputs, gradients and generations as
the reference path, and LoRA on in_proj, x_proj, dt_proj and out_proj trains every adapter."""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import MambaConfig, MambaForCausalLM  # noqa: E402

from mambalign_runtime import kernels  # noqa: E402
from mambalign_runtime.kernels import patch  # noqa: E402
from mambalign_runtime.lora import MAMBA_DEFAULT_TARGETS, mamba_targets_allowed  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def tiny_mamba(seed=0, layers=2, **config):
    torch.manual_seed(seed)
    cfg = MambaConfig(vocab_size=64, hidden_size=16, intermediate_size=24, state_size=16, num_hidden_layers=layers,
                      time_step_rank=4, conv_kernel=4, use_cache=True, pad_token_id=0, **config)
    return MambaForCausalLM(cfg).to(DEVICE).eval()



def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def test_install_modes(restore_reference):
    from transformers.models.mamba import modeling_mamba as mm

    original = mm.MambaMixer.forward
    assert kernels.install("fast") == "fast" and patch.fast_installed()
    assert kernels.install("reference") == "reference" and mm.MambaMixer.forward is original
    with pytest.raises(ValueError, match="unknown mode"):
        kernels.install("turbo")


def test_version_check_names_what_moved(monkeypatch):
    import transformers

    monkeypatch.setattr(transformers, "__version__", "6.0.0")
    with pytest.raises(patch.TransformersMismatch, match="written against transformers 5.17"):
        patch.check_transformers()


def test_fast_model_matches_reference_logits_and_parameter_grads(restore_reference):
    model = tiny_mamba().train()
    ids = torch.randint(1, 64, (2, 13), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    results = {}
    for mode in ("reference", "fast"):
        kernels.install(mode)
        model.zero_grad()
        out = model(ids, labels=ids)
        out.loss.backward()
        results[mode] = (out.logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()})
    assert rel_err(results["fast"][0], results["reference"][0]) < 1e-4
    for name, ref_grad in results["reference"][1].items():
        assert rel_err(results["fast"][1][name], ref_grad) < 1e-4, name


@pytest.mark.parametrize("decode_tile", [None, {"from_batch": 1}], ids=["default", "row_blocks"])
def test_fast_generation_matches_reference(restore_reference, monkeypatch, decode_tile):
    from mambalign_runtime.kernels import _launch

    monkeypatch.setattr(_launch, "_decode_override", decode_tile)  # row_blocks: 16-row programs at batch 2
    model = tiny_mamba(seed=2)
    ids = torch.randint(1, 64, (2, 7), generator=torch.Generator().manual_seed(2)).to(DEVICE)
    gens = {}
    for mode in ("reference", "fast"):
        kernels.install(mode)
        with torch.no_grad():
            gens[mode] = model.generate(ids, max_new_tokens=5, do_sample=False, output_logits=True,
                                        return_dict_in_generate=True)
    assert torch.equal(gens["fast"].sequences, gens["reference"].sequences)
    for got, ref in zip(gens["fast"].logits, gens["reference"].logits):
        assert rel_err(got, ref) < 1e-4


def test_rows_decode_as_they_would_alone_whichever_kernel_the_batch_size_picks(restore_reference):
    """Two prompts alone (one row per program in the decode state update) and as rows 0-1 of a
    batch of 20 (programs of 16 rows, a ragged second block): the same prefill and decode-step
    logits, so no row reads another's state, weights or outputs."""
    kernels.install("fast")
    model = tiny_mamba(seed=3)
    ids = torch.randint(1, 64, (20, 6), generator=torch.Generator().manual_seed(3)).to(DEVICE)

    def logits(x):
        with torch.no_grad():
            out = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=True)
            steps = [out.logits[:, -1]]
            for _ in range(3):
                nxt = steps[-1].argmax(-1, keepdim=True)
                steps.append(model(input_ids=nxt, cache_params=out.cache_params, use_cache=True).logits[:, -1])
        return torch.stack(steps, 1)

    from mambalign_runtime.kernels import _launch

    assert _launch.decode_tile(2) is None and _launch.decode_tile(20) is not None
    assert rel_err(logits(ids)[:2], logits(ids[:2])) < 1e-5


def decode_steps(model, ids, steps, tokens=None):
    """Prefill `ids`, then `steps` single-token steps fed `tokens` (b, steps), or the greedy ones:
    (tokens, per-step last logits (b, steps + 1, V), the cache's conv and SSM states)."""
    from mambalign_runtime.decoding import cache_states

    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True)
        logits, fed = [out.logits[:, -1]], []
        for i in range(steps):
            nxt = tokens[:, i:i + 1] if tokens is not None else logits[-1].argmax(-1, keepdim=True)
            fed.append(nxt)
            logits.append(model(input_ids=nxt, cache_params=out.cache_params, use_cache=True).logits[:, -1])
    return torch.cat(fed, 1), torch.stack(logits, 1), [t.clone() for t in cache_states(out.cache_params)]


def count_calls(monkeypatch, module, name):
    """Wrap module.name to count its calls (the mixer imports it at call time)."""
    calls = []
    original = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


# (dtype, batch, layers): one row per program (b 1), 16-row dots with a ragged block (b 2, 12), and
# b 20, where the GEMM path runs (no fused call); two and three layers (each fused layer zeroes the
# previous one's x_proj buffer: patch._xproj_buffers).
@pytest.mark.parametrize("dtype,batch,layers", [(torch.float32, 2, 2), (torch.float32, 12, 3),
                                                (torch.bfloat16, 12, 2), (torch.bfloat16, 1, 3),
                                                (torch.float32, 20, 2)],
                         ids=["fp32-b2-l2", "fp32-b12-l3", "bf16-b12-l2", "bf16-b1-l3", "fp32-b20-gemm"])
def test_decode_with_x_proj_in_the_conv_kernel_matches_the_gemm_path(restore_reference, monkeypatch, dtype, batch,
                                                                      layers):
    """Five decode steps with x_proj computed inside the conv kernel give the logits and cache
    states of the path that runs x_proj as a GEMM (to fp32 summation order; in bf16 one rounding
    of x_proj's sums may land the other way), step after step, so every layer's buffer is zero
    when it is added into."""
    from mambalign_runtime.kernels import decode

    kernels.install("fast")
    model = tiny_mamba(seed=7, layers=layers).to(dtype)
    ids = torch.randint(1, 64, (batch, 5), generator=torch.Generator().manual_seed(7)).to(DEVICE)
    monkeypatch.setenv("MAMBALIGN_DECODE_FUSED_XPROJ", "0")
    tokens, want, want_states = decode_steps(model, ids, 5)
    monkeypatch.setenv("MAMBALIGN_DECODE_FUSED_XPROJ", "1")
    fused = count_calls(monkeypatch, decode, "conv_xproj")
    _, got, got_states = decode_steps(model, ids, 5, tokens)
    assert len(fused) == (5 * layers if batch < 16 else 0)
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    for step in range(6):
        assert rel_err(got[:, step], want[:, step]) < tol, f"step {step}"
    for got_state, want_state in zip(got_states, want_states):
        assert rel_err(got_state, want_state) < tol


def test_decode_runs_a_lora_wrapped_x_proj_as_a_module_and_fuses_the_other_layers(restore_reference, monkeypatch):
    """PEFT LoRA on the middle layer's x_proj of three: that layer's decode step calls the wrapped
    module (the fused conv+x_proj kernel knows only the base weight), the other two fuse, and over
    several steps the logits are the reference path's, adapter included (so each fused layer's
    buffer is zeroed though the layer after it takes the fallback)."""
    from mambalign_runtime.kernels import decode

    monkeypatch.setenv("MAMBALIGN_DECODE_FUSED_XPROJ", "1")
    with mamba_targets_allowed():
        model = get_peft_model(tiny_mamba(seed=8, layers=3), LoraConfig(
            r=4, lora_alpha=8, target_modules=["x_proj"], layers_to_transform=[1], layers_pattern="layers"))
    lora = [n for n, p in model.named_parameters() if "lora_B" in n]
    assert len(lora) == 1 and ".layers.1." in lora[0]
    for n, p in model.named_parameters():  # lora_B is zero at init: make the adapter count
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=3.0)
    model.eval()
    ids = torch.randint(1, 64, (2, 5), generator=torch.Generator().manual_seed(8)).to(DEVICE)
    kernels.install("reference")
    tokens, want, _ = decode_steps(model, ids, 4)
    kernels.install("fast")
    fused = count_calls(monkeypatch, decode, "conv_xproj")
    _, got, _ = decode_steps(model, ids, 4, tokens)
    assert len(fused) == 4 * 2
    assert rel_err(got, want) < 1e-4
    with model.disable_adapter():
        _, base, _ = decode_steps(model, ids, 4, tokens)
    assert rel_err(base, want) > 1e-3, "the adapter changes the logits"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_decode_runs_in_and_out_proj_as_gemv_at_one_row_and_matches_cublas(restore_reference, monkeypatch, dtype):
    """At one row each layer's in_proj and out_proj are gemv.gemv (twice per layer and step) and the
    logits and states are those of the F.linear path to summation order; two rows,
    MAMBALIGN_DECODE_GEMV=0 and LoRA-wrapped projections (the kernel knows only the base weight) run
    the modules."""
    from mambalign_runtime.kernels import gemv

    kernels.install("fast")
    model = tiny_mamba(seed=9, layers=2).to(dtype)
    ids = torch.randint(1, 64, (1, 5), generator=torch.Generator().manual_seed(9)).to(DEVICE)
    monkeypatch.setenv("MAMBALIGN_DECODE_GEMV", "0")
    calls = count_calls(monkeypatch, gemv, "gemv")
    tokens, want, want_states = decode_steps(model, ids, 4)
    assert not calls
    monkeypatch.setenv("MAMBALIGN_DECODE_GEMV", "1")
    _, got, got_states = decode_steps(model, ids, 4, tokens)
    assert len(calls) == 4 * 2 * 2
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    assert rel_err(got, want) < tol
    for got_state, want_state in zip(got_states, want_states):
        assert rel_err(got_state, want_state) < tol
    calls.clear()
    decode_steps(model, torch.cat([ids, ids.flip(1)]), 2)
    assert not calls, "two rows: cuBLAS"
    with mamba_targets_allowed():
        lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["in_proj", "out_proj"]))
    decode_steps(lora.eval(), ids, 2)
    assert not calls, "LoRA-wrapped projections run as modules"


def test_decode_calls_projections_that_carry_hooks_as_modules(restore_reference, monkeypatch):
    """A forward hook on a mixer, or on its in_proj, x_proj or out_proj (a user's probe, accelerate's
    offload hook) runs at every decode step at one row, where the kernels read the other layers'
    weights themselves, and the logits stay those of the unhooked model."""
    from mambalign_runtime.kernels import decode, gemv

    kernels.install("fast")
    model = tiny_mamba(seed=11, layers=2).to(torch.bfloat16)
    ids = torch.randint(1, 64, (1, 5), generator=torch.Generator().manual_seed(11)).to(DEVICE)
    tokens, want, _ = decode_steps(model, ids, 3)
    mixers = [layer.mixer for layer in model.backbone.layers]
    for target in (mixers[0], mixers[0].in_proj, mixers[1].x_proj, mixers[1].out_proj):
        seen = []
        hook = target.register_forward_hook(lambda *args: seen.append(1))
        fused = count_calls(monkeypatch, decode, "conv_xproj")
        gemvs = count_calls(monkeypatch, gemv, "gemv")
        _, got, _ = decode_steps(model, ids, 3, tokens)
        hook.remove()
        assert len(seen) == 1 + 3, target  # the prefill and each step
        assert len(fused) >= 3 and len(gemvs) >= 3, "the other layer keeps its kernels"
        assert rel_err(got, want) < 2e-2


@pytest.mark.parametrize("setting,want", [(None, torch.bfloat16), ("fp32", torch.float32)])
def test_decode_keeps_the_ssm_state_in_the_models_dtype_unless_asked(restore_reference, monkeypatch, setting, want):
    """A bf16 model's generation cache holds bf16 SSM states (mamba_ssm's choice: half the decode
    step's largest traffic), or fp32 with MAMBALIGN_DECODE_STATE=fp32; decoding on either gives the
    fp32-state logits to bf16 rounding."""
    if setting is None:
        monkeypatch.delenv("MAMBALIGN_DECODE_STATE", raising=False)
    else:
        monkeypatch.setenv("MAMBALIGN_DECODE_STATE", setting)
    kernels.install("fast")
    model = tiny_mamba(seed=4).to(torch.bfloat16)
    ids = torch.randint(1, 64, (2, 6), generator=torch.Generator().manual_seed(4)).to(DEVICE)

    def decode(x):
        with torch.no_grad():
            out = model(input_ids=x, use_cache=True)
            step = model(input_ids=out.logits[:, -1].argmax(-1, keepdim=True), cache_params=out.cache_params,
                         use_cache=True)
        return out.cache_params.layers[0].recurrent_states[0], step.logits[:, -1]

    state, logits = decode(ids)
    assert state.dtype == want
    monkeypatch.setenv("MAMBALIGN_DECODE_STATE", "fp32")
    _, exact = decode(ids)
    assert rel_err(logits, exact) < 2e-2


def test_lora_step_trains_every_adapter_on_all_four_projections(restore_reference):
    kernels.install("fast")
    model = tiny_mamba(seed=3).train()
    with mamba_targets_allowed():
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=list(MAMBA_DEFAULT_TARGETS)))
    lora = {n: p for n, p in model.named_parameters() if "lora_" in n}
    for target in MAMBA_DEFAULT_TARGETS:
        assert sum(f".{target}.lora_" in n for n in lora) == 2 * 2 * 1, target  # A and B, 2 layers
    before = {n: p.detach().clone() for n, p in lora.items()}
    had_grad = {n: False for n in lora}
    opt = torch.optim.AdamW(lora.values(), lr=1e-2)
    ids = torch.randint(1, 64, (2, 11), generator=torch.Generator().manual_seed(4)).to(DEVICE)
    # lora_B starts at zero, so lora_A first gets a gradient on the second step.
    for _ in range(2):
        opt.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        for n, p in lora.items():
            had_grad[n] |= p.grad is not None and bool(p.grad.abs().sum() > 0)
        opt.step()
    assert all(had_grad.values()), [n for n, ok in had_grad.items() if not ok]
    unchanged = [n for n, p in lora.items() if torch.equal(p.detach(), before[n])]
    assert not unchanged, unchanged


def test_packed_row_gives_each_document_its_own_logits_and_gradients(restore_reference):
    """Two documents packed in one row under packed_sequences() give the logits and parameter
    gradients of the two run one by one (what packed SFT relies on). Gradient checkpointing is
    on: the recomputation during backward must see the boundaries too."""
    kernels.install("fast")
    model = tiny_mamba(seed=5).train()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    gen = torch.Generator().manual_seed(5)
    docs = [torch.randint(1, 64, (1, n), generator=gen).to(DEVICE) for n in (6, 9)]
    packed = torch.cat(docs, dim=1)
    seq_idx = torch.tensor([[0] * 6 + [1] * 9], dtype=torch.int32, device=DEVICE)
    weights = torch.randn(1, 15, 64, generator=gen).to(DEVICE)  # a loss that weighs every logit

    model.zero_grad()
    with kernels.packed_sequences(model, seq_idx):
        logits = model(input_ids=packed, use_cache=False).logits
        (logits * weights).sum().backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}

    model.zero_grad()
    alone, start = [], 0
    for doc in docs:
        out = model(input_ids=doc, use_cache=False).logits
        (out * weights[:, start:start + doc.shape[1]]).sum().backward()
        alone.append(out.detach())
        start += doc.shape[1]
    assert rel_err(logits.detach(), torch.cat(alone, dim=1)) < 1e-5
    for name, p in model.named_parameters():
        assert rel_err(got[name], p.grad) < 1e-4, name
    # Outside the context the row is one sequence again: the second document sees the first.
    plain = model(input_ids=packed, use_cache=False).logits.detach()
    assert rel_err(plain[:, 6:], alone[1]) > 1e-3


def test_packed_sequences_checks_its_input(restore_reference):
    model = tiny_mamba()
    kernels.install("reference")
    with pytest.raises(RuntimeError, match="needs the fast path"):
        with kernels.packed_sequences(model, torch.zeros(1, 4, dtype=torch.int32)):
            pass
    kernels.install("fast")
    with pytest.raises(ValueError, match="seq_idx has shape"):
        with kernels.packed_sequences(model, torch.zeros(1, 4, dtype=torch.int32, device=DEVICE)):
            model(input_ids=torch.ones(1, 5, dtype=torch.long, device=DEVICE), use_cache=False)


def test_the_mixer_recompute_runs_the_scan_forward_once_for_its_output_and_once_for_its_chunk_states(
        restore_reference, monkeypatch):
    """Without gradient checkpointing the mixer's forward runs twice (the pass and its recompute
    in the backward). Neither may write what is thrown away: the pass writes the output and no
    chunk states (the checkpoint drops them), the recompute the chunk states and no output (its
    output is discarded), and the backward uses those states instead of a third pass."""
    from mambalign_runtime.kernels import _launch, scan_v4

    kernels.install("fast")
    model = tiny_mamba(seed=7).train()
    calls = []
    real = scan_v4.scan_forward

    def counting(*args, **kw):
        calls.append((kw.get("store_out", True), kw.get("store_ckpt", False)))
        return real(*args, **kw)

    monkeypatch.setattr(scan_v4, "scan_forward", counting)
    ids = torch.randint(1, 64, (2, 24), generator=torch.Generator().manual_seed(7)).to(DEVICE)
    _launch.set_scan_recompute(True)
    try:
        model(input_ids=ids, labels=ids).loss.backward()
    finally:
        _launch.set_scan_recompute(None)
    layers = model.config.num_hidden_layers
    assert calls == [(True, False)] * layers + [(False, True)] * layers, calls
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_training_without_checkpointing_recomputes_the_mixer_inside_and_keeps_its_gradients(restore_reference):
    """Without gradient checkpointing, every layer's saved tensors live until its backward. With
    the scan recompute on (training.py's choice there), a mixer keeps in_proj's output and the
    out_proj input, not the conv output, dt or the scan's chunk states: less saved, same gradients."""
    from torch.autograd.graph import saved_tensors_hooks

    from mambalign_runtime.kernels import _launch

    kernels.install("fast")
    with mamba_targets_allowed():
        model = get_peft_model(tiny_mamba(seed=6).train(),
                               LoraConfig(r=4, lora_alpha=8, target_modules=list(MAMBA_DEFAULT_TARGETS)))
    for n, p in model.named_parameters():  # lora_B is zero at init: give every adapter a gradient path
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.1)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    ids = torch.randint(1, 64, (2, 40), generator=torch.Generator().manual_seed(6)).to(DEVICE)

    def step(recompute: bool):
        _launch.set_scan_recompute(recompute)
        kept: dict[int, int] = {}

        def pack(t):
            ptr = t.untyped_storage().data_ptr()
            if ptr not in params:
                kept[ptr] = t.untyped_storage().nbytes()
            return t

        model.zero_grad()
        try:
            with saved_tensors_hooks(pack, lambda t: t):
                loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
        finally:
            _launch.set_scan_recompute(None)
        return sum(kept.values()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    kept_bytes, grads = step(False)
    recompute_bytes, recompute_grads = step(True)
    assert grads.keys() == recompute_grads.keys() and len(grads) == 2 * 2 * len(MAMBA_DEFAULT_TARGETS)
    for n in grads:
        assert rel_err(recompute_grads[n], grads[n]) < 1e-6, n
    assert recompute_bytes < 0.8 * kept_bytes, (recompute_bytes, kept_bytes)


class CountingAddNorm:
    """Wraps norm.add_rms_norm (patch.model_forward imports it at every call) and counts calls."""

    def __init__(self, monkeypatch):
        from mambalign_runtime.kernels import norm

        self.calls, inner = 0, norm.add_rms_norm

        def counted(*args, **kwargs):
            self.calls += 1
            return inner(*args, **kwargs)

        monkeypatch.setattr(norm, "add_rms_norm", counted)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("residual_in_fp32", [True, False], ids=["fp32_residual", "model_dtype_residual"])
def test_decode_step_with_the_fused_add_and_norm_gives_the_unfused_logits_and_states(
        restore_reference, monkeypatch, residual_in_fp32, dtype):
    """Three decode steps with each block's residual add and the next block's norm in one kernel
    (one call per block plus norm_f's) give bit for bit the logits and cache states of the fast
    path without it (MAMBALIGN_DECODE_FUSED_NORM=0), and transformers' own within its tolerance."""
    model = tiny_mamba(seed=7, residual_in_fp32=residual_in_fp32).to(dtype)
    ids = torch.randint(1, 64, (3, 5), generator=torch.Generator().manual_seed(7)).to(DEVICE)
    counter = CountingAddNorm(monkeypatch)

    def decode(fused: str):
        monkeypatch.setenv("MAMBALIGN_DECODE_FUSED_NORM", fused)
        with torch.no_grad():
            out = model(input_ids=ids, use_cache=True)
            prefill_calls = counter.calls
            steps = [out.logits[:, -1]]
            for _ in range(3):
                nxt = steps[-1].argmax(-1, keepdim=True)
                steps.append(model(input_ids=nxt, cache_params=out.cache_params, use_cache=True).logits[:, -1])
        return torch.stack(steps, 1), cloned_states(out.cache_params), prefill_calls

    kernels.install("reference")
    ref_logits, _, _ = decode("1")
    kernels.install("fast")
    counter.calls = 0
    off_logits, off_states, _ = decode("0")
    assert counter.calls == 0
    on_logits, on_states, prefill_calls = decode("1")
    assert prefill_calls == 0 and counter.calls == 3 * (model.config.num_hidden_layers + 1)
    assert torch.equal(on_logits, off_logits)
    assert len(on_states) == len(off_states) and all(torch.equal(a, b) for a, b in zip(on_states, off_states))
    assert rel_err(on_logits, ref_logits) < (1e-4 if dtype == torch.float32 else 2e-2)


def cloned_states(cache):
    from mambalign_runtime.decoding import cache_states

    return [t.clone() for t in cache_states(cache)]


def test_fused_add_and_norm_only_in_a_decode_step(restore_reference, monkeypatch):
    """A training forward, a prefill, a continued prefill (several tokens on a cache), a step that
    asks for hidden states and a step with a hook on a block go through transformers' loop (the
    hook runs); a step from inputs_embeds is fused, gives the logits of the step from ids and
    leaves the caller's tensor alone; reference mode puts transformers' MambaModel.forward back."""
    from transformers.models.mamba import modeling_mamba as mm

    from mambalign_runtime import decoding

    original = mm.MambaModel.forward
    kernels.install("fast")
    assert mm.MambaModel.forward is patch.model_forward
    model = tiny_mamba(seed=8)
    ids = torch.randint(1, 64, (2, 6), generator=torch.Generator().manual_seed(8)).to(DEVICE)
    counter = CountingAddNorm(monkeypatch)
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    model.eval()
    with torch.no_grad():
        cache = model(input_ids=ids, use_cache=True).cache_params
        model(input_ids=ids[:, :3], cache_params=cache, use_cache=True)
        step = model(input_ids=ids[:, :1], cache_params=cache, use_cache=True, output_hidden_states=True)
        assert len(step.hidden_states) == model.config.num_hidden_layers + 1
        seen = []
        hook = model.backbone.layers[1].register_forward_hook(lambda *args: seen.append(1))
        model(input_ids=ids[:, :1], cache_params=cache, use_cache=True)
        hook.remove()
        assert seen == [1] and counter.calls == 0
        start = cloned_states(cache)
        by_ids = model(input_ids=ids[:, :1], cache_params=cache, use_cache=True).logits
        assert counter.calls == model.config.num_hidden_layers + 1
        for dst, src in zip(decoding.cache_states(cache), start):
            dst.copy_(src)
        embeds = model.get_input_embeddings()(ids[:, :1])
        kept = embeds.clone()
        by_embeds = model(inputs_embeds=embeds, cache_params=cache, use_cache=True).logits
        assert counter.calls == 2 * (model.config.num_hidden_layers + 1)
        assert torch.equal(by_embeds, by_ids) and torch.equal(embeds, kept)
    kernels.install("reference")
    assert mm.MambaModel.forward is original


def _moved_model_forward(self, input_ids=None, cache_params=None, **kwargs):
    hidden_states = self.embeddings(input_ids)
    for block in self.layers:
        hidden_states = block(hidden_states, cache_params=cache_params)
    return self.norm_f(hidden_states)


def test_version_check_names_the_model_loop_line_that_moved(monkeypatch):
    monkeypatch.setitem(patch._originals, "MambaModel.forward", _moved_model_forward)
    with pytest.raises(patch.TransformersMismatch, match=r"MambaModel.forward no longer contains"):
        patch.check_transformers()
