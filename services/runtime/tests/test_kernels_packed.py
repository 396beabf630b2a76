"""Document boundaries (`seq_idx`) in the kernels: a packed row must give every document the
outputs and gradients it gets when run on its own. The kernels run on the packed row; the
float64 reference runs each document separately, so one comparison checks both the boundary
handling and the arithmetic. The backward is covered with the forward's chunk checkpoints and
recomputing them.

On CPU the kernels run in Triton's interpreter on tiny shapes; on a GPU (tests/ under
scripts/gpu_kernels_check.sh) the shapes are real. Tolerances as in test_kernels.py.
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from mambalign_runtime.kernels.conv import causal_conv1d  # noqa: E402
from mambalign_runtime.kernels.reference import causal_conv1d_ref, selective_scan_ref  # noqa: E402
from mambalign_runtime.kernels.scan import selective_scan  # noqa: E402

from test_kernels import DEVICE, GPU, SCAN_NAMES, TOL, rel_err, scan_inputs  # noqa: E402

PER_STEP = ("u", "delta", "B", "C", "z")  # inputs indexed by position; the rest are shared


def doc_lengths(L: int, cuts: list[int]) -> list[tuple[int, int]]:
    edges = [0, *cuts, L]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def seq_idx_from(rows: list[list[tuple[int, int]]], L: int) -> torch.Tensor:
    seq = torch.zeros(len(rows), L, dtype=torch.int32)
    for r, docs in enumerate(rows):
        for i, (a, b) in enumerate(docs):
            seq[r, a:b] = i + 10 * r  # any distinct integers per document
    return seq.to(DEVICE)


# (batch, dim, dstate, seqlen, document cuts per row, dtype). Cuts fall inside chunks, on chunk
# edges (the interpreter's chunks are 4 steps), at step 1 and at the last step.
PACKED_CASES = [
    (2, 6, 16, 19, [[5, 8, 9], [1, 18]], torch.float32),
    (1, 5, 64, 13, [[4, 7]], torch.float32),
    (2, 6, 16, 19, [[3, 12], []], torch.bfloat16),
]
if GPU:
    PACKED_CASES += [(2, 1536, 16, 2047, [[100, 511, 512, 1500], [1024]], torch.float32),
                     (1, 2560, 16, 4096, [[7, 2048, 4000]], torch.bfloat16)]


@pytest.mark.parametrize("keep_ckpt", [True, False])
@pytest.mark.parametrize("b,d,n,L,cuts,dtype", PACKED_CASES)
def test_packed_scan_matches_documents_run_alone(keep_ckpt, b, d, n, L, cuts, dtype):
    gen = torch.Generator().manual_seed(77 + L)
    x = scan_inputs(b, d, n, L, dtype, gen)
    rows = [doc_lengths(L, c) for c in cuts]
    seq_idx = seq_idx_from(rows, L)
    out = selective_scan(**x, delta_softplus=True, seq_idx=seq_idx, keep_ckpt=keep_ckpt)
    dout = torch.randn(out.shape, generator=gen).to(DEVICE, dtype)
    out.backward(dout)

    shared_grads = {k: torch.zeros_like(x[k], dtype=torch.float64) for k in SCAN_NAMES if k not in PER_STEP}
    for r, docs in enumerate(rows):
        for a, e in docs:
            part = {k: (v.detach()[r:r + 1, ..., a:e] if k in PER_STEP else v.detach()).double().requires_grad_()
                    for k, v in x.items()}
            ref = selective_scan_ref(**part, delta_softplus=True)
            ref.backward(dout[r:r + 1, :, a:e].double())
            assert rel_err(out[r:r + 1, :, a:e], ref) < TOL[dtype], f"row {r} doc [{a},{e}) output"
            for k in PER_STEP:
                err = rel_err(x[k].grad[r:r + 1, ..., a:e], part[k].grad)
                assert err < TOL[dtype], f"row {r} doc [{a},{e}) grad of {k}: {err:.1e}"
            for k in shared_grads:
                shared_grads[k] += part[k].grad
    for k, ref_grad in shared_grads.items():
        err = rel_err(x[k].grad, ref_grad)
        assert err < TOL[torch.float32], f"grad of {k} (summed over documents): {err:.1e}"


def test_packed_scan_one_document_equals_no_seq_idx():
    """A row that is one document (constant seq_idx) is the unpacked scan."""
    gen = torch.Generator().manual_seed(5)
    x = {k: v.detach() for k, v in scan_inputs(2, 6, 16, 11, torch.float32, gen).items()}
    plain = selective_scan(**x, delta_softplus=True)
    same = selective_scan(**x, delta_softplus=True, seq_idx=torch.full((2, 11), 3, dtype=torch.int32, device=DEVICE))
    # Bit for bit in the interpreter; compiled, the extra `where` may change FMA contraction.
    assert torch.equal(plain, same) if not GPU else rel_err(same, plain) < 1e-6


def test_seq_idx_shape_is_checked():
    gen = torch.Generator().manual_seed(6)
    x = {k: v.detach() for k, v in scan_inputs(2, 6, 16, 11, torch.float32, gen).items()}
    with pytest.raises(ValueError, match="seq_idx must be"):
        selective_scan(**x, seq_idx=torch.zeros(2, 10, dtype=torch.int32, device=DEVICE))
    with pytest.raises(ValueError, match="seq_idx must be"):
        causal_conv1d(x["u"], torch.randn(6, 4, device=DEVICE), seq_idx=torch.zeros(2, 11, device=DEVICE))


# (batch, dim, seqlen, cuts per row, dtype, kernel width, bias). Width 4 runs the specialised
# backward (interpreter chunks of 8 rows): cuts on and next to chunk edges, documents of one to
# three positions; width 3 the general kernel.
CONV_PACKED = [
    (2, 6, 19, [[1, 5, 6], [17]], torch.float32, 4, True),
    (1, 5, 12, [[2, 3, 4]], torch.bfloat16, 4, True),
    (2, 6, 21, [[7, 8, 9, 16], [2, 10, 11, 13]], torch.float32, 4, False),
    (2, 6, 19, [[1, 5, 6], [17]], torch.float32, 3, False),
]
if GPU:
    CONV_PACKED += [(2, 5120, 2047, [[3, 64, 65, 1000], [2046]], torch.bfloat16, 4, True)]


@pytest.mark.parametrize("b,d,L,cuts,dtype,K,with_bias", CONV_PACKED)
def test_packed_conv_matches_documents_run_alone(b, d, L, cuts, dtype, K, with_bias):
    """Includes documents shorter than the kernel width (taps must not reach two back)."""
    gen = torch.Generator().manual_seed(L)
    xz = torch.randn(b, L, 2 * d, generator=gen).to(DEVICE, dtype)
    x = xz[..., :d].transpose(1, 2).detach().requires_grad_()
    w = torch.randn(d, K, generator=gen).to(DEVICE).requires_grad_()
    bias = torch.randn(d, generator=gen).to(DEVICE).requires_grad_() if with_bias else None
    rows = [doc_lengths(L, c) for c in cuts]
    out = causal_conv1d(x, w, bias, silu=True, seq_idx=seq_idx_from(rows, L))
    dout = torch.randn(out.shape, generator=gen).to(DEVICE, dtype)
    out.backward(dout)
    dw = torch.zeros_like(w, dtype=torch.float64)
    db = torch.zeros(d, dtype=torch.float64, device=DEVICE)
    for r, docs in enumerate(rows):
        for a, e in docs:
            xr = x.detach()[r:r + 1, :, a:e].double().requires_grad_()
            wr = w.detach().double().requires_grad_()
            br = bias.detach().double().requires_grad_() if with_bias else None
            ref = causal_conv1d_ref(xr, wr, br, activation=True)
            ref.backward(dout[r:r + 1, :, a:e].double())
            assert rel_err(out[r:r + 1, :, a:e], ref) < TOL[dtype], f"row {r} doc [{a},{e}) output"
            assert rel_err(x.grad[r:r + 1, :, a:e], xr.grad) < TOL[dtype], f"row {r} doc [{a},{e}) dx"
            dw += wr.grad
            if with_bias:
                db += br.grad
    assert rel_err(w.grad, dw) < TOL[torch.float32]
    if with_bias:
        assert rel_err(bias.grad, db) < TOL[torch.float32]


def test_reference_twins_take_seq_idx():
    """The reference twins with seq_idx equal themselves run per document (pure PyTorch)."""
    gen = torch.Generator().manual_seed(9)
    x = {k: v.detach().double() for k, v in scan_inputs(1, 4, 8, 10, torch.float32, gen).items()}
    seq = torch.tensor([[0, 0, 0, 1, 1, 2, 2, 2, 2, 2]], device=DEVICE)
    packed = selective_scan_ref(**x, delta_softplus=True, seq_idx=seq)
    conv_w = torch.randn(4, 4, generator=gen, dtype=torch.float64).to(DEVICE)
    conv_packed = causal_conv1d_ref(x["u"], conv_w, seq_idx=seq)
    for a, e in ((0, 3), (3, 5), (5, 10)):
        part = {k: (v[..., a:e] if k in PER_STEP else v) for k, v in x.items()}
        assert torch.allclose(packed[..., a:e], selective_scan_ref(**part, delta_softplus=True))
        assert torch.allclose(conv_packed[..., a:e], causal_conv1d_ref(x["u"][..., a:e], conv_w))


def test_every_gpu_tile_of_the_scan_matches_the_reference(monkeypatch):
    """The GPU benchmark times (and may pick) each of v4's candidate tiles, so each must be
    correct; run them here on a shape that crosses channel blocks, with document boundaries."""
    from mambalign_runtime.kernels import _launch, scan_v4

    monkeypatch.setattr(_launch, "interpreting", lambda: False)
    tiles = _launch._v4_configs(16)
    monkeypatch.undo()
    gen = torch.Generator().manual_seed(11)
    b, d, n, L = 1, 40, 16, 11
    x = {k: v.detach() for k, v in scan_inputs(b, d, n, L, torch.float32, gen).items()}
    seq_idx = seq_idx_from([doc_lengths(L, [2, 8])], L)
    xr = {k: v.double().requires_grad_() for k, v in x.items()}
    ref = selective_scan_ref(**xr, delta_softplus=True, seq_idx=seq_idx)
    dout = torch.randn(ref.shape, generator=gen).to(DEVICE)
    ref.backward(dout.double())
    args = [x[k] for k in SCAN_NAMES]
    for cfg in tiles:
        out, ckpt, _ = scan_v4.scan_forward(*args, delta_softplus=True, store_ckpt=True, config=cfg, seq_idx=seq_idx)
        assert rel_err(out, ref) < 1e-4, cfg
        grads = scan_v4.scan_backward(dout, *args, True, ckpt, config=cfg, seq_idx=seq_idx)
        for name, got in zip(SCAN_NAMES, grads):
            assert rel_err(got, xr[name].grad) < 1e-4, (cfg, name)
        # Recomputing the checkpoints in the backward gives the same gradients bit for bit.
        again = scan_v4.scan_backward(dout, *args, True, None, config=cfg, seq_idx=seq_idx)
        for name, got, want in zip(SCAN_NAMES, again, grads):
            assert torch.equal(got, want), (cfg, name)


def test_time_split_scan_keeps_documents_apart(monkeypatch):
    """Split in time, a document boundary may fall inside a segment or on its first step: the
    joined states and adjoints must still not cross it."""
    from mambalign_runtime.kernels import _launch

    L = 19  # 5 chunks of 4 in the interpreter; 3 segments of 8 steps forward, 2 of 12 backward
    monkeypatch.setattr(_launch, "_scan_override", {**_launch.scan_configs(16, L)[0], "SEGS": 3, "bwd_SEGS": 2})
    gen = torch.Generator().manual_seed(12)
    x = scan_inputs(1, 6, 16, L, torch.float32, gen)
    docs = doc_lengths(L, [5, 8, 12, 16])
    out = selective_scan(**x, delta_softplus=True, seq_idx=seq_idx_from([docs], L))
    dout = torch.randn(out.shape, generator=gen).to(DEVICE)
    out.backward(dout)
    for a, e in docs:
        part = {k: (v.detach()[..., a:e] if k in PER_STEP else v.detach()).double().requires_grad_()
                for k, v in x.items()}
        ref = selective_scan_ref(**part, delta_softplus=True)
        ref.backward(dout[..., a:e].double())
        assert rel_err(out[..., a:e], ref) < 1e-4, (a, e)
        for k in PER_STEP:
            assert rel_err(x[k].grad[..., a:e], part[k].grad) < 1e-4, (a, e, k)
