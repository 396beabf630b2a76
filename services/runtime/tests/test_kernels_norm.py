"""Fused RMSNorm (kernels/norm.py) vs transformers' MambaRMSNorm and MambaBlock.

Two references: a float64 twin of the formula (outputs, dx and dw within one rounding of the
result's dtype, as in test_kernels.py), and transformers' own code run in its own dtypes, which
the kernel must reproduce rounding for rounding (it emulates the block's cast of x to the norm
weight's dtype and the norm's cast of x * r back to it before the weight multiply).
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from transformers import MambaConfig  # noqa: E402
from transformers.models.mamba import modeling_mamba as mm  # noqa: E402

from mambalign_runtime import kernels  # noqa: E402
from mambalign_runtime.kernels import patch  # noqa: E402
from mambalign_runtime.kernels.norm import add_rms_norm, rms_norm  # noqa: E402
from mambalign_runtime.kernels.reference import add_rms_norm_ref  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
GPU = DEVICE == "cuda"
TOL = {torch.float32: 1e-4, torch.bfloat16: 1e-2, torch.float16: 2e-3}
EPS = 1e-5
F32, BF16, F16 = torch.float32, torch.bfloat16, torch.float16


@pytest.fixture(autouse=True)
def reference_installed():
    """Every test starts and ends with transformers' own code in place."""
    kernels.install("reference")
    yield
    kernels.install("reference")


def rel_err(got, ref):
    got, ref = got.double(), ref.double()
    assert torch.isfinite(got).all(), "non-finite values"
    return ((got - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def activations(shape, dtype, gen, strided=False):
    """Rows of very different scales, one of them tiny so eps matters; `strided` gives a last
    dim with stride 2."""
    x = torch.randn(*shape[:-1], 2 * shape[-1] if strided else shape[-1], generator=gen)
    x = x * torch.exp(torch.randn(*shape[:-1], 1, generator=gen))
    x.view(-1, x.shape[-1])[0] *= 1e-3
    x = x.to(DEVICE, dtype)
    return (x[..., ::2] if strided else x).detach().requires_grad_()


def twin(x, weight, eps, in_dtype):
    """transformers' RMSNorm in float64 on the kernel's inputs, x rounded to in_dtype first."""
    x64 = x.detach().to(in_dtype).double().requires_grad_()
    w64 = weight.detach().double().requires_grad_(weight.requires_grad)
    r = torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + eps)
    return w64 * (x64 * r), x64, w64


# (shape, x dtype, weight dtype, in_dtype, weight trained, last dim strided): hidden 32 and 40
# (not a power of two), 2-D and 3-D, the real case (fp32 residual stream, bf16 weight) with the
# weight trained and frozen (LoRA), and norm_f's bf16 activations with an fp32 weight.
CASES = [
    ((5, 32), F32, F32, F32, True, False),
    ((2, 3, 40), F32, F32, F32, True, True),
    ((2, 3, 40), BF16, BF16, BF16, True, False),
    ((2, 7, 40), F32, BF16, BF16, True, False),
    ((2, 7, 32), F32, BF16, BF16, False, True),
    ((4, 40), F16, F16, F16, True, False),
    ((3, 5, 40), BF16, F32, BF16, True, False),
]
if GPU:  # the 2.8B shape: a training row block and one decoding token
    CASES += [((2, 2048, 2560), F32, BF16, BF16, True, False), ((1, 1, 2560), F32, BF16, BF16, False, False),
              ((4, 1000, 1536), BF16, BF16, BF16, True, False)]


@pytest.mark.parametrize("shape,x_dtype,w_dtype,in_dtype,w_grad,strided", CASES)
def test_rms_norm_matches_float64_twin_outputs_and_gradients(shape, x_dtype, w_dtype, in_dtype, w_grad, strided):
    gen = torch.Generator().manual_seed(shape[-1] + len(shape))
    x = activations(shape, x_dtype, gen, strided)
    w = (1 + 0.3 * torch.randn(shape[-1], generator=gen)).to(DEVICE, w_dtype).requires_grad_(w_grad)
    out = rms_norm(x, w, EPS, in_dtype)
    ref, x64, w64 = twin(x, w, EPS, in_dtype)
    assert out.shape == x.shape and out.dtype == torch.promote_types(w_dtype, in_dtype)
    # Two roundings (to in_dtype before the weight multiply, to the output dtype after).
    assert rel_err(out, ref) < max(TOL[in_dtype], TOL[out.dtype])
    dout = torch.randn(out.shape, generator=gen).to(DEVICE, out.dtype)
    out.backward(dout)
    ref.backward(dout.double())
    assert x.grad.dtype == x_dtype
    assert rel_err(x.grad, x64.grad) < TOL[x_dtype]
    if w_grad:
        assert w.grad.dtype == w_dtype and rel_err(w.grad, w64.grad) < TOL[w_dtype]
    else:
        assert w.grad is None


@pytest.mark.parametrize("in_dtype", [BF16, F32])
def test_rms_norm_keeps_the_16_bit_cast_of_an_fp32_residual_for_its_backward(in_dtype):
    """Every block of a model with an fp32 residual stream normalises x.to(bf16); the norm must
    keep that cast for its backward (what transformers' autograd keeps), not the fp32 residual:
    twice the memory, held for every block until its backward. The gradient stays x's dtype."""
    from torch.autograd.graph import saved_tensors_hooks

    gen = torch.Generator().manual_seed(9)
    x = activations((2, 7, 40), F32, gen, False)
    w = (1 + 0.3 * torch.randn(40, generator=gen)).to(DEVICE, BF16)
    saved = []
    with saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = rms_norm(x, w, EPS, in_dtype)
    kept = [t for t in saved if t.numel() == x.numel()]
    assert [t.dtype for t in kept] == [in_dtype]
    assert kept[0].untyped_storage().nbytes() == x.numel() * in_dtype.itemsize
    if in_dtype == BF16:
        assert torch.equal(kept[0].view(x.shape), x.detach().to(BF16))
    out.sum().backward()
    assert x.grad.dtype == F32


def assert_same_roundings(got, ref):
    """fp32: equal up to the order of the sum of squares. 16-bit: almost every element equal
    bit for bit; the rest one or two units apart (a near-tie rounded the other way)."""
    assert got.dtype == ref.dtype and got.shape == ref.shape
    if got.dtype == F32:
        torch.testing.assert_close(got, ref, rtol=2e-6, atol=1e-30)
        return
    torch.testing.assert_close(got, ref, rtol=2 ** -6, atol=1e-30)
    assert (got != ref).double().mean().item() < 0.01


@pytest.mark.parametrize("shape,x_dtype,w_dtype", [((2, 7, 40), F32, BF16), ((3, 5, 40), BF16, BF16),
                                                   ((5, 32), F32, F32), ((4, 40), F16, F16),
                                                   ((3, 5, 40), BF16, F32)])
def test_rms_norm_rounds_like_transformers(shape, x_dtype, w_dtype):
    """The block's `norm(x.to(norm.weight.dtype))` and norm_f's `norm(x)`, run by transformers."""
    gen = torch.Generator().manual_seed(7)
    x = activations(shape, x_dtype, gen).detach()
    norm = mm.MambaRMSNorm(shape[-1], eps=EPS).to(DEVICE)
    with torch.no_grad():
        norm.weight.copy_(1 + 0.3 * torch.randn(shape[-1], generator=gen))
    norm.to(w_dtype)
    with torch.no_grad():
        assert_same_roundings(rms_norm(x, norm.weight, EPS, w_dtype), norm(x.to(w_dtype)))
        assert_same_roundings(rms_norm(x, norm.weight, EPS), norm(x))


@pytest.mark.parametrize("out_dtype", [BF16, F16])
def test_rms_norm_out_dtype_gives_the_rounded_wide_result_and_its_gradients(out_dtype):
    """fp32 master weights under autocast: the norm's fp32 result rounded once to out_dtype (the
    bits autocast's cast gives the next matmul), and the gradients the cast passes through."""
    gen = torch.Generator().manual_seed(11)
    x = activations((3, 5, 40), F32, gen)
    w = (1 + 0.3 * torch.randn(40, generator=gen)).to(DEVICE, F32)
    wide = rms_norm(x, w, EPS, F32)
    narrow = rms_norm(x, w, EPS, F32, out_dtype)
    assert narrow.dtype == out_dtype and torch.equal(narrow, wide.to(out_dtype))
    dout = torch.randn(narrow.shape, generator=gen).to(DEVICE, out_dtype)
    (dx_wide,) = torch.autograd.grad(wide.to(out_dtype), x, dout)
    (dx_narrow,) = torch.autograd.grad(narrow, x, dout)
    assert torch.equal(dx_narrow, dx_wide)


class LinearMixer(torch.nn.Module):
    """Stands in for MambaMixer so the block test sees only the norm and the residual."""

    def __init__(self, hidden, dtype, gen):
        super().__init__()
        self.weight = torch.nn.Parameter((torch.randn(hidden, hidden, generator=gen) / hidden ** 0.5).to(DEVICE, dtype))

    def forward(self, hidden_states, cache_params=None, attention_mask=None):
        return hidden_states @ self.weight


@pytest.mark.parametrize("residual_in_fp32,x_dtype", [(True, F32), (True, BF16), (False, BF16)])
def test_block_matches_transformers_outputs_and_gradients(residual_in_fp32, x_dtype):
    """MambaBlock with a bf16 norm weight on an fp32 (or bf16) residual stream: the fast block
    gives transformers' output (same roundings) and its gradients. transformers' dx goes through
    the bf16 cast, ours stays in x's dtype, so dx agrees to a bf16 rounding."""
    gen = torch.Generator().manual_seed(11)
    cfg = MambaConfig(hidden_size=40, intermediate_size=8, state_size=4, num_hidden_layers=1,
                      residual_in_fp32=residual_in_fp32, layer_norm_epsilon=EPS)
    block = mm.MambaBlock(cfg, layer_idx=0).to(DEVICE)
    block.mixer = LinearMixer(40, BF16, gen)
    with torch.no_grad():
        block.norm.weight.copy_(1 + 0.3 * torch.randn(40, generator=gen))
    block.norm.to(BF16)
    x = activations((2, 6, 40), x_dtype, gen)
    dout = None
    results = {}
    for mode in ("reference", "fast"):
        kernels.install(mode)
        block.zero_grad()
        x.grad = None
        out = block(x)
        dout = torch.randn(out.shape, generator=gen).to(DEVICE, out.dtype) if dout is None else dout
        out.backward(dout)
        results[mode] = (out.detach(), x.grad.clone(), block.norm.weight.grad.clone(), block.mixer.weight.grad.clone())
    (out, dx, dnorm, dmix), (out_ref, dx_ref, dnorm_ref, dmix_ref) = results["fast"], results["reference"]
    assert_same_roundings(out, out_ref)
    assert rel_err(dx, dx_ref) < TOL[BF16]
    assert rel_err(dnorm, dnorm_ref) < TOL[BF16]
    assert rel_err(dmix, dmix_ref) < TOL[BF16]


def test_install_swaps_and_restores_block_and_norm():
    originals = mm.MambaBlock.forward, mm.MambaRMSNorm.forward
    kernels.install("fast")
    assert (mm.MambaBlock.forward, mm.MambaRMSNorm.forward) == (patch.block_forward, patch.norm_forward)
    kernels.install("reference")
    assert (mm.MambaBlock.forward, mm.MambaRMSNorm.forward) == originals


def _moved_norm_forward(self, hidden_states):
    return self.weight * torch.nn.functional.rms_norm(hidden_states, hidden_states.shape[-1:])


def test_version_check_names_the_norm_line_that_moved(monkeypatch):
    monkeypatch.setitem(patch._originals, "MambaRMSNorm.forward", _moved_norm_forward)
    with pytest.raises(patch.TransformersMismatch, match=r"MambaRMSNorm.forward no longer contains"):
        patch.check_transformers()


# The decode step's add + norm (residual dtype, mixer output dtype or None for the first block,
# norm weight dtype, residual kept as, norm input dtype): the 2.8B model's blocks (fp32 residual,
# bf16 mixer output and weight), its first block (bf16 embeddings -> fp32 residual) and norm_f
# (fp32 input, no residual kept), residual_in_fp32=False (all bf16), an fp32 model.
ADD_CASES = [
    ((3, 1, 40), F32, BF16, BF16, F32, BF16),
    ((3, 1, 40), BF16, None, BF16, F32, BF16),
    ((3, 1, 40), F32, BF16, BF16, None, F32),
    ((2, 40), BF16, BF16, BF16, BF16, BF16),
    ((2, 1, 32), F32, F32, F32, F32, F32),
]
if GPU:  # the 2.8B decode step at batch 64 (the GPU rounds bf16 with cvt.rn, the interpreter with integer ops)
    ADD_CASES += [((64, 1, 2560), F32, BF16, BF16, F32, BF16), ((64, 1, 2560), F32, BF16, BF16, None, F32)]


@pytest.mark.parametrize("shape,res_dtype,h_dtype,w_dtype,keep_dtype,in_dtype", ADD_CASES)
def test_add_rms_norm_gives_the_add_then_the_norm_bit_for_bit(shape, res_dtype, h_dtype, w_dtype, keep_dtype, in_dtype):
    """Against the plain-PyTorch twin (transformers' add and norm): the residual bit for bit, the
    norm to the kernel's roundings; against the add followed by the rms_norm kernel (the path it
    replaces): both bit for bit, also when the residual is updated in place."""
    gen = torch.Generator().manual_seed(shape[-1] + len(shape))
    residual = activations(shape, res_dtype, gen).detach()
    h = activations(shape, h_dtype, gen).detach() if h_dtype is not None else None
    w = (1 + 0.3 * torch.randn(shape[-1], generator=gen)).to(DEVICE, w_dtype)
    with torch.no_grad():
        res, out = add_rms_norm(residual, h, w, EPS, in_dtype, keep_dtype)
        res_ref, out_ref = add_rms_norm_ref(residual, h, w, EPS, in_dtype, keep_dtype)
        x = residual + h if h is not None else residual
        assert out.dtype == torch.promote_types(w_dtype, in_dtype) and out.shape == residual.shape
        assert_same_roundings(out, out_ref)
        assert torch.equal(out, rms_norm(x, w, EPS, in_dtype))
        if keep_dtype is None:
            assert res is None
            return
        assert res.dtype == keep_dtype and torch.equal(res, res_ref)
        if keep_dtype == res_dtype:
            inplace = residual.clone()
            res2, out2 = add_rms_norm(inplace, h, w, EPS, in_dtype, keep_dtype, res_out=inplace)
            assert res2 is inplace and torch.equal(inplace, res) and torch.equal(out2, out)


def test_add_rms_norm_refuses_gradients_and_bad_shapes():
    x = torch.randn(2, 40, device=DEVICE, requires_grad=True)
    w = torch.ones(40, device=DEVICE)
    with pytest.raises(RuntimeError, match="inference only"):
        add_rms_norm(x, None, w, EPS, F32, F32)
    with torch.no_grad():
        with pytest.raises(ValueError, match="h has shape"):
            add_rms_norm(x, x[:, :8], w, EPS, F32, F32)
        with pytest.raises(ValueError, match="res_out must be"):
            add_rms_norm(x, None, w, EPS, F32, F32, res_out=torch.empty(2, 40, dtype=BF16, device=DEVICE))
