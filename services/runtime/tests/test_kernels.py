"""Triton kernels vs their plain-PyTorch twins: outputs and every gradient.

On a machine without CUDA the kernels run through Triton's CPU interpreter on tiny shapes
(the interpreter must be chosen before the kernel modules are imported). The reference runs
in float64 on the same input values, so the error measured is the kernel's alone.

Tolerances (norm-wise relative error ||got - ref|| / ||ref||):
  - fp32 inputs: 1e-4 (the issue's bound; fp32 math lands near 1e-7).
  - bf16/fp16 inputs: the kernels compute in fp32 and round once when storing, so the error is
    one rounding of the result: bf16 keeps 8 significant bits (unit roundoff 2**-8 = 3.9e-3 per
    element, ~2e-3 norm-wise on random data); 1e-2 leaves room for the rounding of the bf16
    inputs to dt/z paths that feed two products. fp16 (11 bits) gets 2e-3.
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from mambalign_runtime.kernels.conv import causal_conv1d  # noqa: E402
from mambalign_runtime.kernels.decode import conv_update, conv_xproj, state_update  # noqa: E402
from mambalign_runtime.kernels.gemv import gemv  # noqa: E402
from mambalign_runtime.kernels.reference import (  # noqa: E402
    causal_conv1d_ref,
    conv_update_ref,
    conv_xproj_ref,
    selective_scan_ref,
    state_update_ref,
)
from mambalign_runtime.kernels.scan import selective_scan  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
GPU = DEVICE == "cuda"
TOL = {torch.float32: 1e-4, torch.bfloat16: 1e-2, torch.float16: 2e-3}
SCAN_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def rel_err(got: torch.Tensor, ref: torch.Tensor) -> float:
    got, ref = got.double(), ref.double()
    assert torch.isfinite(got).all(), "non-finite values"
    return ((got - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def scan_inputs(b, d, n, L, dtype, gen):
    """Activations in `dtype`, parameters (A, D, delta_bias) in fp32, as transformers passes them."""
    def r(*shape):
        return torch.randn(*shape, generator=gen)

    acts = dict(u=r(b, d, L), delta=r(b, d, L) * 0.5 - 1.0, B=r(b, n, L), C=r(b, n, L), z=r(b, d, L))
    params = dict(A=-(torch.rand(d, n, generator=gen) * 4 + 0.5), D=r(d), delta_bias=r(d) * 0.3)
    out = {k: v.to(DEVICE, dtype) for k, v in acts.items()}
    out.update({k: v.to(DEVICE) for k, v in params.items()})
    return {k: out[k].requires_grad_() for k in SCAN_NAMES}


def check_scan_against_reference(b, d, n, L, dtype, gen, keep_ckpt):
    """The scan on random inputs against its float64 twin: output and final state within TOL, then
    every gradient. Returns (out, last state) for the caller's own checks."""
    x = scan_inputs(b, d, n, L, dtype, gen)
    xr = {k: v.detach().double().requires_grad_() for k, v in x.items()}
    out, last = selective_scan(**x, delta_softplus=True, return_last_state=True, keep_ckpt=keep_ckpt)
    out_ref, last_ref = selective_scan_ref(**xr, delta_softplus=True, return_last_state=True)
    assert rel_err(out, out_ref) < TOL[dtype]
    assert rel_err(last, last_ref) < TOL[torch.float32]
    dout = torch.randn(out.shape, generator=gen).to(DEVICE, dtype)
    out.backward(dout)
    out_ref.backward(dout.double())
    for name in SCAN_NAMES:
        tol = TOL[x[name].dtype]
        err = rel_err(x[name].grad, xr[name].grad)
        assert err < tol, f"grad of {name}: rel err {err:.2e} >= {tol:.0e}"
    return out, last


# (batch, dim, dstate, seqlen, dtype): odd lengths, lengths off the chunk and block sizes,
# dim off the channel block, batch > 1, d_state 16 and 64.
SCAN_CASES = [
    (2, 6, 16, 19, torch.float32),
    (1, 5, 64, 13, torch.float32),
    (2, 6, 16, 19, torch.bfloat16),
    (1, 6, 64, 8, torch.float16),
]
if GPU:  # real shapes on the GPU
    SCAN_CASES += [(2, 1536, 16, 2047, torch.float32), (2, 1024, 64, 1000, torch.bfloat16),
                   (1, 2560, 16, 4096, torch.bfloat16)]


@pytest.mark.parametrize("keep_ckpt", [True, False])
@pytest.mark.parametrize("b,d,n,L,dtype", SCAN_CASES)
def test_scan_matches_reference_outputs_and_all_gradients(b, d, n, L, dtype, keep_ckpt):
    out, last = check_scan_against_reference(b, d, n, L, dtype, torch.Generator().manual_seed(1000 + L), keep_ckpt)
    assert out.dtype == dtype and out.shape == (b, d, L)
    assert last.dtype == torch.float32 and last.shape == (b, d, n)


@pytest.mark.parametrize("keep_ckpt", [True, False])
def test_scan_without_optional_inputs_and_softplus(keep_ckpt):
    gen = torch.Generator().manual_seed(7)
    x = scan_inputs(2, 6, 16, 11, torch.float32, gen)
    x["delta"] = torch.rand(2, 6, 11, generator=gen).to(DEVICE).requires_grad_()  # already positive
    keep = ("u", "delta", "A", "B", "C")
    xk = {k: x[k] for k in keep}
    xr = {k: v.detach().double().requires_grad_() for k, v in xk.items()}
    out = selective_scan(**xk, keep_ckpt=keep_ckpt)
    out_ref = selective_scan_ref(**xr)
    assert rel_err(out, out_ref) < 1e-4
    out.sum().backward()
    out_ref.sum().backward()
    for k in keep:
        assert rel_err(xk[k].grad, xr[k].grad) < 1e-4, k


@pytest.mark.parametrize("deterministic", [False, True])
def test_scan_backward_adds_db_dc_atomically_unless_torch_is_asked_for_determinism(monkeypatch, deterministic):
    """dB and dC sum over every channel: by default the backward adds each channel block's part
    atomically (fp32; the order, hence the last bits, varies between runs on a GPU). Under
    torch.use_deterministic_algorithms it writes per-block partials and sums them in a fixed
    order instead. Both give the reference's gradients."""
    from mambalign_runtime.kernels import scan_v4

    modes = []
    real = scan_v4.bwd_buffers
    monkeypatch.setattr(scan_v4, "bwd_buffers", lambda *a: modes.append(a[-1]) or real(*a))
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(deterministic)
    try:
        check_scan_against_reference(2, 6, 16, 19, torch.float32, torch.Generator().manual_seed(77), True)
    finally:
        torch.use_deterministic_algorithms(before)
    assert modes == [not deterministic]


def test_scan_keeps_no_chunk_checkpoints_for_the_backward_unless_asked():
    """Without gradient checkpointing every layer's saved tensors stay alive until its backward:
    the scan must save only its inputs (the backward recomputes the chunk states), not
    b*L*D*N/CHUNK fp32 chunk checkpoints per layer."""
    from torch.autograd.graph import saved_tensors_hooks

    gen = torch.Generator().manual_seed(5)
    x = scan_inputs(1, 6, 16, 19, torch.float32, gen)
    inputs = {x[k].data_ptr() for k in SCAN_NAMES}

    def saved_by_scan(**kw):
        saved = []
        with saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            selective_scan(**x, delta_softplus=True, **kw)
        return [t for t in saved if t.data_ptr() not in inputs]

    # What stands in for the checkpoints (see scan.no_ckpt) holds no memory.
    assert [t.untyped_storage().nbytes() for t in saved_by_scan()] == [4]
    kept = saved_by_scan(keep_ckpt=True)
    assert [t.shape[-2:] for t in kept] == [(6, 16)] and kept[0].dtype == torch.float32


def test_scan_initial_state_continues_a_sequence():
    gen = torch.Generator().manual_seed(3)
    x = {k: v.detach() for k, v in scan_inputs(2, 6, 16, 21, torch.float32, gen).items()}
    full = selective_scan(**x, delta_softplus=True)
    cut = 13
    head = {k: (v[..., :cut] if v.dim() == 3 else v) for k, v in x.items()}
    tail = {k: (v[..., cut:] if v.dim() == 3 else v) for k, v in x.items()}
    _, state = selective_scan(**head, delta_softplus=True, return_last_state=True)
    rest = selective_scan(**tail, delta_softplus=True, initial_state=state)
    assert rel_err(rest, full[..., cut:]) < 1e-5


def _split_config(monkeypatch, n, L, segs, bwd_segs):
    """Force the scan's time split (scan_v4 on this machine's default tile)."""
    from mambalign_runtime.kernels import _launch

    cfg = {**_launch.scan_configs(n, L)[0], "SEGS": segs, "bwd_SEGS": bwd_segs}
    monkeypatch.setattr(_launch, "_scan_override", cfg)
    return cfg


# 19 steps = 5 chunks of 4 (interpreter): 3 segments of 2 chunks (the last of 1) and 5 of 1
# forward; 2 and 5 backward. On the GPU (chunks of 4 too) 4,096 steps in 8 and 3 segments.
SPLIT_CASES = [(2, 6, 16, 19, torch.float32, 3, 2), (1, 5, 64, 19, torch.float32, 5, 5)]
if GPU:
    SPLIT_CASES += [(1, 2560, 16, 4096, torch.bfloat16, 8, 3)]


@pytest.mark.parametrize("keep_ckpt", [True, False])
@pytest.mark.parametrize("b,d,n,L,dtype,segs,bwd_segs", SPLIT_CASES)
def test_time_split_scan_matches_reference_outputs_last_state_and_all_gradients(
        monkeypatch, b, d, n, L, dtype, segs, bwd_segs, keep_ckpt):
    """Split in time (segments scanned in parallel, then joined by their entering states and
    adjoints), the scan is the same function: outputs, final state and every gradient."""
    _split_config(monkeypatch, n, L, segs, bwd_segs)
    check_scan_against_reference(b, d, n, L, dtype, torch.Generator().manual_seed(2000 + L + segs), keep_ckpt)


def test_time_split_scan_continues_from_an_initial_state(monkeypatch):
    _split_config(monkeypatch, 16, 21, 3, 1)
    gen = torch.Generator().manual_seed(4)
    x = {k: v.detach() for k, v in scan_inputs(2, 6, 16, 21, torch.float32, gen).items()}
    h0 = torch.randn(2, 6, 16, generator=gen).to(DEVICE)
    out, last = selective_scan(**x, delta_softplus=True, initial_state=h0, return_last_state=True)
    xr = {k: v.double() for k, v in x.items()}
    ref, last_ref = selective_scan_ref(**xr, delta_softplus=True, initial_state=h0.double(), return_last_state=True)
    assert rel_err(out, ref) < 1e-4 and rel_err(last, last_ref) < 1e-4


def test_scan_splits_in_time_only_when_too_few_programs_fill_the_card():
    from mambalign_runtime.kernels._launch import SPLIT_BELOW, SPLIT_MIN_CHUNKS, scan_segments

    cfg = {"CHUNK": 4, "DI": 4, "NI": 4}
    for backward in (False, True):
        full = SPLIT_BELOW["bwd" if backward else "fwd"]
        assert scan_segments(cfg, 4096, full, backward) == (1, 4096)  # enough programs: no second pass
        segs, seg_chunks = scan_segments(cfg, 4096, full // 8, backward)  # e.g. seq 16k, batch 1
        assert segs >= 8 and seg_chunks * segs >= 4096 and seg_chunks >= SPLIT_MIN_CHUNKS
        assert scan_segments(cfg, SPLIT_MIN_CHUNKS, 1, backward) == (1, SPLIT_MIN_CHUNKS)  # short: no split
    assert scan_segments({**cfg, "SEGS": 3}, 5, 10**6, backward=False) == (3, 2)  # asked for: given
    assert scan_segments({**cfg, "bwd_SEGS": 9}, 5, 1, backward=True) == (5, 1)  # at most one chunk each


# (batch, dim, seqlen, dtype, bias, kernel width, silu, x layout). Width 4 takes the specialised
# backward (interpreter chunks of 8 rows, 4 channels: lengths off both, one shorter than the
# kernel); widths 3 and 2 the general one. "view" is x as in_proj hands it over (a (b, D, L)
# view of the (b, L, 2D) output, channels contiguous), "dense" a contiguous (b, D, L) tensor.
CONV_CASES = [
    (2, 6, 19, torch.float32, True, 4, True, "view"),
    (1, 5, 8, torch.float32, False, 4, True, "view"),
    (2, 6, 19, torch.bfloat16, True, 4, True, "view"),
    (1, 3, 3, torch.float32, True, 4, True, "view"),
    (2, 6, 13, torch.float32, False, 4, False, "dense"),
    (2, 6, 19, torch.float32, True, 3, True, "view"),
    (1, 5, 11, torch.bfloat16, False, 2, True, "dense"),
]
if GPU:
    CONV_CASES += [(2, 5120, 2047, torch.bfloat16, True, 4, True, "view"),
                   (1, 1536, 1000, torch.float32, True, 4, True, "view"),
                   (1, 1536, 1000, torch.bfloat16, False, 3, True, "view")]


def conv_input(b, d, L, dtype, layout, gen):
    if layout == "view":
        xz = torch.randn(b, L, 2 * d, generator=gen).to(DEVICE, dtype)
        return xz[..., :d].transpose(1, 2).detach().requires_grad_()
    return torch.randn(b, d, L, generator=gen).to(DEVICE, dtype).requires_grad_()


@pytest.mark.parametrize("b,d,L,dtype,with_bias,K,silu,layout", CONV_CASES)
def test_causal_conv1d_silu_matches_reference(b, d, L, dtype, with_bias, K, silu, layout):
    gen = torch.Generator().manual_seed(L)
    x = conv_input(b, d, L, dtype, layout, gen)
    w = torch.randn(d, K, generator=gen).to(DEVICE).requires_grad_()
    bias = torch.randn(d, generator=gen).to(DEVICE).requires_grad_() if with_bias else None
    ref_in = [t.detach().double().requires_grad_() if t is not None else None for t in (x, w, bias)]
    out = causal_conv1d(x, w, bias, silu=silu)
    out_ref = causal_conv1d_ref(*ref_in, activation=silu)
    assert out.dtype == dtype and out.shape == (b, d, L)
    assert rel_err(out, out_ref) < TOL[dtype]
    dout = torch.randn(out.shape, generator=gen).to(DEVICE, dtype)
    out.backward(dout)
    out_ref.backward(dout.double())
    assert rel_err(x.grad, ref_in[0].grad) < TOL[dtype]
    assert rel_err(w.grad, ref_in[1].grad) < TOL[torch.float32]
    if with_bias:
        assert rel_err(bias.grad, ref_in[2].grad) < TOL[torch.float32]


@pytest.mark.parametrize("n", [16, 64])
def test_decode_steps_continue_the_prefill(n):
    """Prefill's final states plus single-step updates reproduce the full-sequence outputs."""
    gen = torch.Generator().manual_seed(n)
    b, d, L, steps = 2, 6, 9, 3
    x = {k: v.detach() for k, v in scan_inputs(b, d, n, L + steps, torch.float32, gen).items()}
    raw = torch.randn(b, d, L + steps, generator=gen).to(DEVICE)
    w = torch.randn(d, 4, generator=gen).to(DEVICE)
    cb = torch.randn(d, generator=gen).to(DEVICE)
    conv_full = causal_conv1d(raw, w, cb)
    full = selective_scan(conv_full, *(x[k] for k in SCAN_NAMES[1:]), delta_softplus=True)

    conv_pre = causal_conv1d(raw[..., :L], w, cb)
    _, state = selective_scan(conv_pre, *(x[k][..., :L] if x[k].dim() == 3 else x[k] for k in SCAN_NAMES[1:]),
                              delta_softplus=True, return_last_state=True)
    conv_state = raw[..., L - 4:L].contiguous()
    state_ref, conv_state_ref = state.clone(), conv_state.clone()
    for t in range(L, L + steps):
        xc = conv_update(raw[..., t], conv_state, w, cb)
        xc_ref = conv_update_ref(raw[..., t], conv_state_ref, w, cb)
        assert rel_err(xc, conv_full[..., t]) < 1e-5 and rel_err(xc, xc_ref) < 1e-5
        args = (x["delta"][..., t], x["A"], x["B"][..., t], x["C"][..., t], x["D"], x["z"][..., t], x["delta_bias"], True)
        y = state_update(state, xc, *args)
        y_ref = state_update_ref(state_ref, xc_ref, *args)
        assert rel_err(y, full[..., t]) < 1e-5
        assert rel_err(y, y_ref) < 1e-5 and rel_err(state, state_ref) < 1e-5
    # The decode path passes A_log and lets the kernel form A = -exp(A_log).
    s1, s2 = state.clone(), state.clone()
    xc = raw[..., 0]
    args = (x["delta"][..., 0], x["A"], x["B"][..., 0], x["C"][..., 0], x["D"], x["z"][..., 0], x["delta_bias"], True)
    y1 = state_update(s1, xc, *args)
    y2 = state_update(s2, xc, args[0], torch.log(-x["A"]), *args[2:], A_is_log=True)
    assert rel_err(y2, y1) < 1e-5 and rel_err(s2, s1) < 1e-5
    # ... and may hand it dt_proj's input and weight instead of dt (rank 11: off the kernel's block).
    ts = torch.randn(b, 11, generator=gen).to(DEVICE)
    w_dt = torch.randn(d, 11, generator=gen).to(DEVICE) * 0.3
    s3, s4 = state.clone(), state.clone()
    y3 = state_update(s3, xc, ts @ w_dt.T, *args[1:])
    y4 = state_update(s4, xc, ts, *args[1:], dt_weight=w_dt)
    assert rel_err(y4, y3) < 1e-5 and rel_err(s4, s3) < 1e-5
    with pytest.raises(ValueError, match="dt_weight"):
        state_update(s4, xc, ts, *args[1:], dt_weight=w_dt[:, :5])


# (batch, dim, dstate, rank, activation dtype, dt_proj in the kernel): batches off the 16-row block
# (a ragged last row block), dim off the channel block, rank off the rank block.
ROW_BLOCK_CASES = [
    (20, 40, 16, 11, torch.float32, True),
    (17, 24, 16, 11, torch.bfloat16, True),
    (20, 40, 64, 0, torch.float32, False),
]


@pytest.mark.parametrize("b, d, n, rank, dtype, dt_proj", ROW_BLOCK_CASES)
def test_decode_row_blocks_match_reference_and_the_per_row_kernel(monkeypatch, b, d, n, rank, dtype, dt_proj):
    """Programs of 16 batch rows (dt_proj as a tensor-core dot) give the reference's outputs and
    states, and the per-row kernel's, for every row of a ragged last block."""
    from mambalign_runtime.kernels import _launch

    gen = torch.Generator().manual_seed(b * d + n)

    def r(*shape, scale=1.0, dt=dtype):
        return (torch.randn(*shape, generator=gen) * scale).to(DEVICE, dt)

    x, z, B, C = r(b, d), r(b, d), r(b, n), r(b, n)
    A_log = torch.log(torch.rand(d, n, generator=gen) * 4 + 0.5).to(DEVICE)
    D, bias = r(d, dt=torch.float32), r(d, scale=0.3, dt=torch.float32)
    state0 = r(b, d, n, dt=torch.float32)
    if dt_proj:  # x_proj's time-step slice and dt_proj's weight, both in the activations' dtype
        ts, w_dt = r(b, rank), r(d, rank, scale=0.3)
        dt_full = ts.double() @ w_dt.double().T
    else:
        ts, w_dt = r(b, d, scale=0.5), None
        dt_full = ts
    state_ref = state0.clone()
    y_ref = state_update_ref(state_ref, x, dt_full, -torch.exp(A_log), B, C, D, z, bias, True)
    results = {}
    for name, tile in (("rows", {"from_batch": 1}), ("per_row", {"from_batch": 0})):
        monkeypatch.setattr(_launch, "_decode_override", tile)
        assert (_launch.decode_tile(b) is None) == (name == "per_row")
        state = state0.clone()
        y = state_update(state, x, ts, A_log, B, C, D, z, bias, True, A_is_log=True, dt_weight=w_dt)
        results[name] = (y, state)
        assert rel_err(y, y_ref) < TOL[dtype] and rel_err(state, state_ref) < 1e-5
        assert rel_err(y[-1], y_ref[-1]) < TOL[dtype], "the ragged last row block"
    assert rel_err(results["rows"][0], results["per_row"][0]) < TOL[dtype]
    assert rel_err(results["rows"][1], results["per_row"][1]) < 1e-5


def test_decode_tile_keeps_one_row_per_program_at_batch_one_and_checks_its_config(monkeypatch):
    from mambalign_runtime.kernels import _launch

    monkeypatch.setattr(_launch, "_decode_override", None)
    assert _launch.decode_tile(1) is None
    assert _launch.decode_tile(256)["BLOCK_B"] >= 16
    with pytest.raises(ValueError, match="BLOCK_B"):
        _launch.set_decode_tile({"BLOCK_B": 8})
    with pytest.raises(ValueError, match="unknown keys"):
        _launch.set_decode_tile({"rows": 4})


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layout", ["contiguous", "strided_state"])
def test_conv_update_shifts_the_state_and_matches_reference(dtype, layout):
    """The conv-state tile kernel shifts the state exactly as the reference (the oldest input
    drops out, x comes in last) and gives its outputs, for batch rows, a ragged channel block,
    and a state whose taps are not contiguous (updated in place all the same)."""
    gen = torch.Generator().manual_seed(7)
    b, d = 3, 37
    x = torch.randn(b, d, generator=gen).to(DEVICE, dtype)
    state0 = torch.randn(b, d, 4, generator=gen).to(DEVICE, dtype)
    w = torch.randn(d, 4, generator=gen).to(DEVICE, dtype)
    bias = torch.randn(d, generator=gen).to(DEVICE, dtype)
    state = state0.clone() if layout == "contiguous" else state0.transpose(1, 2).contiguous().transpose(1, 2)
    state_ref = state0.clone()
    out = conv_update(x, state, w, bias)
    out_ref = conv_update_ref(x, state_ref, w, bias)
    assert torch.equal(state, state_ref)
    assert torch.equal(state[..., :3], state0[..., 1:]) and torch.equal(state[..., 3], x)
    assert rel_err(out, out_ref) < (1e-6 if dtype == torch.float32 else TOL[dtype])


# Batch 1: one row per program (broadcast multiply-add); 3 and 20: 16-row programs with a
# tensor-core dot and a ragged last row block (the kernel runs at any batch; the decode step calls
# it below 16 rows). 37 channels: ragged channel block and sub-block for
# both variants; 20 outputs (rank 4 + 2 x 8 states): off the output block.
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("b", [1, 3, 20])
def test_conv_xproj_matches_conv_update_then_x_proj(dtype, b):
    """The fused conv + x_proj kernel shifts the state and returns xc as conv_update does, adds
    xc @ W_x.T (xc as stored, in the model's dtype) into the zeroed fp32 buffer, and zeroes the
    next layer's buffer."""
    from mambalign_runtime.kernels import _launch

    assert _launch.xproj_tile(b)["USE_DOT"] == (b >= _launch.XPROJ_DOT_FROM)
    gen = torch.Generator().manual_seed(b)
    d, E = 37, 20

    def r(*shape):
        return torch.randn(*shape, generator=gen).to(DEVICE, dtype)

    x, state0, w, bias, wx = r(b, d), r(b, d, 4), r(d, 4), r(d), r(E, d)
    state, state_ref = state0.clone(), state0.clone()
    proj = torch.zeros(b, E, device=DEVICE)
    zero_next = torch.randn(b, E, generator=gen).to(DEVICE)
    xc = conv_xproj(x, state, w, bias, True, wx, proj, zero_next)
    xc_ref, proj_ref = conv_xproj_ref(x, state_ref, w, bias, True, wx)
    assert torch.equal(state, state_ref)
    assert torch.equal(xc, conv_update(x, state0.clone(), w, bias)), "xc as the conv update kernel gives it"
    assert rel_err(xc, xc_ref) < (1e-6 if dtype == torch.float32 else TOL[dtype])
    # The sums of exact products (bf16 x bf16 fits fp32): only the summation order differs.
    assert rel_err(proj, xc.double() @ wx.double().T) < 1e-6
    assert rel_err(proj, proj_ref) < (1e-6 if dtype == torch.float32 else TOL[dtype])
    assert rel_err(proj[-1], proj_ref[-1]) < (1e-6 if dtype == torch.float32 else TOL[dtype]), "the last row"
    assert not zero_next.any()
    with pytest.raises(ValueError, match="x_proj_weight"):
        conv_xproj(x, state, w, bias, True, wx.float() if dtype != torch.float32 else wx.double(), proj)


def test_xproj_fuses_below_16_rows_one_row_per_program_at_batch_one_and_checks_its_config(monkeypatch):
    """Measured on an H200 (KERNELS.md "Round 7"): the fused conv+x_proj wins below 16 rows (one row
    per program at batch 1, a 16-row dot from 2 rows) and loses to the GEMM from 64 rows on."""
    from mambalign_runtime.kernels import _launch

    monkeypatch.setattr(_launch, "_xproj_override", None)
    monkeypatch.delenv("MAMBALIGN_DECODE_FUSED_XPROJ", raising=False)
    assert _launch.decode_fused_xproj(1) and _launch.decode_fused_xproj(15)
    assert not _launch.decode_fused_xproj(16) and not _launch.decode_fused_xproj(256)
    assert not _launch.xproj_tile(1)["USE_DOT"] and _launch.xproj_tile(1)["BLOCK_B"] == 1
    assert _launch.xproj_tile(2)["USE_DOT"] and _launch.xproj_tile(2)["BLOCK_B"] >= 16
    _launch.set_xproj_tile({"fuse_below": 1 << 30, "dot_from": 4, "dot_SUB_D": 32, "row_BLOCK_D": 128})
    assert _launch.decode_fused_xproj(256)
    assert _launch.xproj_tile(4)["SUB_D"] == 32 and _launch.xproj_tile(3)["BLOCK_D"] == 128
    _launch.set_xproj_tile(None)
    with pytest.raises(ValueError, match="dot_SUB_D"):
        _launch.set_xproj_tile({"dot_SUB_D": 8})
    with pytest.raises(ValueError, match="unknown keys"):
        _launch.set_xproj_tile({"SUB_D": 32})
    with pytest.raises(ValueError, match="row_BLOCK_B"):
        _launch.set_xproj_tile({"row_BLOCK_B": 4})
    monkeypatch.setenv("MAMBALIGN_DECODE_FUSED_XPROJ", "yes")
    with pytest.raises(ValueError, match="MAMBALIGN_DECODE_FUSED_XPROJ"):
        _launch.decode_fused_xproj(1)


@pytest.mark.parametrize("b", [2, 17])
def test_state_update_rounds_fp32_inputs_to_the_models_dtype_when_asked(b):
    """round_inputs: dt (the time step with dt_weight), B and C given as fp32 sums give exactly the
    result of the same sums rounded to the activations' dtype beforehand (batch 2: per-row
    kernel; 17: row blocks, whose dt dot then takes bf16 operands again)."""
    gen = torch.Generator().manual_seed(b)
    d, n, rank = 24, 16, 11

    def r(*shape, dt=torch.bfloat16, scale=1.0):
        return (torch.randn(*shape, generator=gen) * scale).to(DEVICE, dt)

    x, z, A_log, D, bias = r(b, d), r(b, d), r(d, n, dt=torch.float32) * 0.1, r(d, dt=torch.float32), r(d, scale=0.3)
    sums = r(b, rank + 2 * n, dt=torch.float32)
    w_dt = r(d, rank, scale=0.3)
    state0 = r(b, d, n)
    outs = []
    for inputs, rounding in ((sums, True), (sums.to(torch.bfloat16), False)):
        ts, B, C = torch.split(inputs, [rank, n, n], -1)
        state = state0.clone()
        y = state_update(state, x, ts, A_log, B, C, D, z, bias.float(), True, A_is_log=True, dt_weight=w_dt,
                         round_inputs=rounding)
        outs.append((y, state))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


# Ragged columns and input features (off the column block and the k step), 1-3 rows, and a strided row (out_proj's input as the decode step hands it is (b, 1, D)).
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows,n,k,tile", [(1, 37, 300, {"BLOCK_N": 4, "BLOCK_K": 64}),
                                           (3, 21, 130, {"BLOCK_N": 8, "BLOCK_K": 32}),
                                           (2, 16, 256, None)])
def test_gemv_matches_linear(dtype, rows, n, k, tile):
    """gemv gives x @ W.T as F.linear does: exact bf16 products summed in fp32, one rounding."""
    gen = torch.Generator().manual_seed(rows * n)
    x = torch.randn(rows, 1, k, generator=gen).to(DEVICE, dtype)
    w = torch.randn(n, k, generator=gen).to(DEVICE, dtype)
    got = gemv(x, w, tile)
    assert got.shape == (rows, 1, n) and got.dtype == dtype
    exact = x.double() @ w.double().T
    assert rel_err(got, exact) < (1e-6 if dtype == torch.float32 else 4e-3)
    assert rel_err(got, torch.nn.functional.linear(x, w)) < (1e-6 if dtype == torch.float32 else TOL[dtype])
    wide = torch.randn(rows, 2 * k, generator=gen).to(DEVICE, dtype)[:, ::2]  # a row stride of 2k, features strided
    assert rel_err(gemv(wide, w, tile), wide.double() @ w.double().T) < (1e-6 if dtype == torch.float32 else 4e-3)


def test_gemv_names_what_it_cannot_take():
    w = torch.randn(8, 16, device=DEVICE)
    with pytest.raises(ValueError, match="x has 12 features, weight expects 16"):
        gemv(torch.randn(1, 12, device=DEVICE), w)
    with pytest.raises(ValueError, match="9 rows"):
        gemv(torch.randn(9, 16, device=DEVICE), w)
    with pytest.raises(ValueError, match="contiguous along its input features"):
        gemv(torch.randn(1, 8, device=DEVICE), w.T)


def test_decode_gemv_runs_at_one_row_and_checks_its_config(monkeypatch):
    """Measured on an H200 (KERNELS.md "Round 8"): out_proj as gemv wins at one row, cuBLAS keeps up
    from two."""
    from mambalign_runtime.kernels import _launch

    monkeypatch.setattr(_launch, "_gemv_override", None)
    monkeypatch.delenv("MAMBALIGN_DECODE_GEMV", raising=False)
    assert _launch.decode_gemv(1) and not _launch.decode_gemv(2)
    monkeypatch.setenv("MAMBALIGN_DECODE_GEMV", "0")
    assert not _launch.decode_gemv(1)
    monkeypatch.setenv("MAMBALIGN_DECODE_GEMV", "on")
    with pytest.raises(ValueError, match="MAMBALIGN_DECODE_GEMV"):
        _launch.decode_gemv(1)
    monkeypatch.delenv("MAMBALIGN_DECODE_GEMV")
    _launch.set_gemv({"below": 5, "BLOCK_N": 8, "in_proj_BLOCK_K": 256})
    assert _launch.decode_gemv(4) and _launch.gemv_tile() == {**_launch.GEMV_TILE, "BLOCK_N": 8}
    assert _launch.gemv_tile("in_proj") == {**_launch.IN_PROJ_TILE, "BLOCK_K": 256}
    _launch.set_gemv({"in_proj": False})
    assert _launch.decode_gemv(1) and not _launch.decode_gemv(1, "in_proj")
    _launch.set_gemv(None)
    with pytest.raises(ValueError, match="unknown keys"):
        _launch.set_gemv({"BLOCK_M": 2})


def test_decode_kernels_launch_dependently_only_on_a_gpu_and_check_the_switch(monkeypatch):
    """Programmatic dependent launch (sm_90+) is on by default below PDL_BELOW rows (it lost at 256
    on an H200, KERNELS.md "Round 8") and never in the CPU interpreter."""
    from mambalign_runtime.kernels import _launch

    monkeypatch.delenv("MAMBALIGN_DECODE_PDL", raising=False)
    gpu = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 9 and not _launch.interpreting()
    assert _launch.decode_pdl(1) == gpu and _launch.decode_pdl(64) == gpu
    assert not _launch.decode_pdl(_launch.PDL_BELOW)
    assert _launch.pdl_launch(1) == ({"PDL": True, "launch_pdl": True} if gpu else {"PDL": False})
    monkeypatch.setenv("MAMBALIGN_DECODE_PDL", "0")
    assert not _launch.decode_pdl(1)
    monkeypatch.setenv("MAMBALIGN_DECODE_PDL", "yes")
    with pytest.raises(ValueError, match="MAMBALIGN_DECODE_PDL"):
        _launch.decode_pdl(1)


def test_decode_keeps_x_proj_a_gemm_when_torch_is_asked_for_determinism(monkeypatch):
    """conv_xproj adds its split-K sums atomically (their order varies between runs), so under
    torch.use_deterministic_algorithms the decode step runs x_proj as a GEMM, as the scan's
    backward keeps its partial sums."""
    from mambalign_runtime.kernels import _launch

    monkeypatch.setattr(_launch, "_xproj_override", None)
    monkeypatch.delenv("MAMBALIGN_DECODE_FUSED_XPROJ", raising=False)
    assert _launch.decode_fused_xproj(1)
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        assert not _launch.decode_fused_xproj(1)
    finally:
        torch.use_deterministic_algorithms(was)
