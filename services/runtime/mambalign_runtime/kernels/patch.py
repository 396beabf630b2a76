"""Swap the Triton kernels into transformers' Mamba-1 (`models/mamba/modeling_mamba.py`).

What is replaced, in the module's namespace (the mixer looks these up at call time):
  - `mamba_selective_scan`, `mamba_selective_state_update`, `causal_conv1d_fn`,
    `causal_conv1d_update`: drop-ins with transformers' signatures, backed by our kernels;
  - `MambaMixer.forward`: the same steps as transformers' forward, but with the conv output
    kept in the (b, L, D) layout x_proj reads, and `dt_proj` called as a module whenever it is
    wrapped (LoRA, 4-bit), since transformers reads `dt_proj.weight` directly;
  - `MambaBlock.forward` and `MambaRMSNorm.forward` (norm_f): the block's cast to the norm
    weight's dtype and the RMSNorm in one Triton kernel (`norm.py`), same roundings;
  - `MambaModel.forward`, for a decode step only (one token, a cache with state, no gradients):
    its own layer loop, with each block's residual add and the next block's RMSNorm (or norm_f)
    in one kernel (`norm.add_rms_norm`), same roundings; anything else runs transformers' forward.
`in_proj`, `x_proj`, `dt_proj` and `out_proj` stay ordinary module calls, except in a decode step where
they are plain Linears called without hooks: x_proj (below 16 rows) runs inside the conv update kernel,
dt_proj inside the state update kernel, and in_proj and out_proj (at one row) as `gemv.gemv`.

The code was written against transformers 5.17; `check_transformers()` fails with a message
naming what moved if the installed version's internals differ.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

SUPPORTED_TRANSFORMERS = "5.17."
_EXPECTED_PARAMS = {
    "mamba_selective_scan": ("hidden_states", "dt", "A", "B", "C", "D", "z", "delta_bias", "delta_softplus",
                             "return_last_state"),
    "mamba_selective_state_update": ("state", "hidden_states", "dt", "A", "B", "C", "D", "dt_bias",
                                     "dt_softplus", "z"),
    "causal_conv1d_fn": ("hidden_states", "weight", "bias", "activation"),
    "causal_conv1d_update": ("hidden_states", "conv_state", "weight", "bias", "activation"),
}
_MIXER_ATTRS = ("in_proj", "conv1d", "x_proj", "dt_proj", "out_proj", "A_log", "D", "activation",
                "time_step_rank", "ssm_state_size", "conv_kernel_size", "layer_idx", "use_conv_bias")
# Lines of transformers' MambaBlock / MambaRMSNorm whose behaviour block_forward / norm_forward reproduce.
_BLOCK_NEEDLES = ("residual = hidden_states", "self.norm(hidden_states.to(dtype=self.norm.weight.dtype))",
                  "if self.residual_in_fp32:", "residual = residual.to(torch.float32)",
                  "self.mixer(hidden_states, cache_params=cache_params, attention_mask=attention_mask)",
                  "hidden_states = residual + hidden_states")
_NORM_NEEDLES = ("hidden_states.to(torch.float32)", "hidden_states.pow(2).mean(-1, keepdim=True)",
                 "torch.rsqrt(variance + self.variance_epsilon)", "return self.weight * hidden_states.to(input_dtype)")
# Lines of transformers' MambaModel.forward whose behaviour model_forward's decode loop reproduces.
_MODEL_NEEDLES = ("inputs_embeds = self.embeddings(input_ids)", "for mixer_block in self.layers:",
                  "hidden_states = mixer_block(", "hidden_states = self.norm_f(hidden_states)",
                  "use_cache = use_cache if use_cache is not None else (self.config.use_cache if not self.training",
                  "if self.gradient_checkpointing and self.training and use_cache:",
                  "return tuple(v for v in [hidden_states, cache_params, all_hidden_states] if v is not None)",
                  "cache_params=cache_params if use_cache else None")
_originals: dict[str, object] = {}


class TransformersMismatch(RuntimeError):
    """The installed transformers' Mamba internals differ from what the fast path was written for."""


def check_transformers():
    """Return transformers' modeling_mamba module after checking the internals we replace."""
    import transformers
    from transformers.models.mamba import modeling_mamba as mm

    hint = (f"the Triton fast path was written against transformers {SUPPORTED_TRANSFORMERS}x "
            f"(installed: {transformers.__version__}); use kernels='reference' or update "
            "mambalign_runtime/kernels/patch.py")
    if not transformers.__version__.startswith(SUPPORTED_TRANSFORMERS):
        raise TransformersMismatch(f"kernels: unsupported transformers version; {hint}")
    for name, params in _EXPECTED_PARAMS.items():
        fn = _originals.get(name) or getattr(mm, name, None)
        if fn is None:
            raise TransformersMismatch(f"kernels: modeling_mamba.{name} is gone; {hint}")
        got = tuple(inspect.signature(fn).parameters)
        missing = [p for p in params if p not in got]
        if missing:
            raise TransformersMismatch(f"kernels: modeling_mamba.{name} lost parameters {missing}; {hint}")
    mixer_src = inspect.getsource(_originals.get("MambaMixer.forward") or mm.MambaMixer.forward)
    for needle in ("self.dt_proj.weight @ time_step", "mamba_selective_scan(", "mamba_selective_state_update(",
                   "cache_params.update_conv_state(", "cache_params.update_recurrent_state(",
                   "has_previous_state(self.layer_idx)"):
        if needle not in mixer_src:
            raise TransformersMismatch(f"kernels: MambaMixer.forward no longer contains {needle!r}; {hint}")
    init_src = inspect.getsource(mm.MambaMixer.__init__)
    for attr in _MIXER_ATTRS:
        if f"self.{attr} =" not in init_src:
            raise TransformersMismatch(f"kernels: MambaMixer no longer sets self.{attr}; {hint}")
    _check_source(mm, "MambaBlock.forward", _BLOCK_NEEDLES, hint)
    _check_source(mm, "MambaRMSNorm.forward", _NORM_NEEDLES, hint)
    _check_source(mm, "MambaModel.forward", _MODEL_NEEDLES, hint)
    return mm


def _check_source(mm, name: str, needles, hint: str) -> None:
    """Transformers' original `Class.method` (even while ours is installed) contains every needle."""
    cls, method = name.split(".")
    src = inspect.getsource(_originals.get(name) or getattr(getattr(mm, cls), method))
    for needle in needles:
        if needle not in src:
            raise TransformersMismatch(f"kernels: {name} no longer contains {needle!r}; {hint}")


# ---- drop-ins with transformers' signatures -------------------------------------------------

def fast_selective_scan(hidden_states, dt, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                        return_last_state=False, seq_idx=None, **_ignored):
    from .scan import selective_scan

    return selective_scan(hidden_states, dt, A, B, C, D, z, delta_bias, delta_softplus, return_last_state,
                          seq_idx=seq_idx)


def fast_selective_state_update(state, hidden_states, dt, A, B, C, D=None, dt_bias=None, dt_softplus=False,
                                z=None, **_ignored):
    from .decode import state_update

    return state_update(state, hidden_states, dt, A, B, C, D, z, dt_bias, dt_softplus)


def _silu_flag(activation) -> bool:
    if activation not in (None, "silu", "swish"):
        raise ValueError(f"kernels: causal conv supports activation silu or none, got {activation!r}")
    return activation is not None


def fast_causal_conv1d_fn(hidden_states, weight, bias=None, activation=None, seq_idx=None, **_ignored):
    from .conv import causal_conv1d

    return causal_conv1d(hidden_states, weight, bias, _silu_flag(activation), seq_idx)


def fast_causal_conv1d_update(hidden_states, conv_state, weight, bias=None, activation=None):
    from .decode import conv_update

    if hidden_states.shape[-1] != 1:
        raise ValueError("kernels: causal_conv1d_update takes one step (seq_len 1)")
    return conv_update(hidden_states[..., 0], conv_state, weight, bias, _silu_flag(activation))[..., None]


# ---- packed rows: document boundaries ------------------------------------------------------

_SEQ_IDX_ATTR = "_mambalign_seq_idx"


@contextmanager
def packed_sequences(model, seq_idx):
    """Run `model` (any module containing transformers' MambaMixer layers, PEFT-wrapped or not)
    on packed rows: `seq_idx` (batch, seqlen) int32 holds each position's document index, and
    the conv and SSM states restart wherever it changes, so every document gets the outputs and
    gradients it would get alone. Needs the fast path installed.

    With gradient checkpointing, the backward pass recomputes each layer, so keep the context
    open until `.backward()` has run:

        with packed_sequences(model, batch["seq_idx"]):
            loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
    """
    from transformers.models.mamba import modeling_mamba as mm

    if not fast_installed():
        raise RuntimeError("kernels: packed_sequences needs the fast path; call kernels.install('fast') first")
    if seq_idx is not None and (seq_idx.dim() != 2 or seq_idx.dtype.is_floating_point or seq_idx.dtype == torch.bool):
        raise ValueError(f"packed_sequences: seq_idx must be a (batch, seqlen) integer tensor, got "
                         f"{tuple(seq_idx.shape)} {seq_idx.dtype}")
    mixers = [m for m in model.modules() if isinstance(m, mm.MambaMixer)]
    if not mixers:
        raise ValueError("packed_sequences: the model has no MambaMixer layers")
    seq = seq_idx.to(torch.int32).contiguous() if seq_idx is not None else None
    for mixer in mixers:
        setattr(mixer, _SEQ_IDX_ATTR, seq)
    try:
        yield
    finally:
        for mixer in mixers:
            setattr(mixer, _SEQ_IDX_ATTR, None)


def _layer_seq_idx(mixer, batch: int, seq_len: int, has_state: bool, device):
    seq_idx = getattr(mixer, _SEQ_IDX_ATTR, None)
    if seq_idx is None:
        return None
    if has_state:
        raise ValueError("packed_sequences: seq_idx applies to full rows, not to decoding from a cache")
    if seq_idx.shape != (batch, seq_len):
        raise ValueError(f"packed_sequences: seq_idx has shape {tuple(seq_idx.shape)} but the layer input is "
                         f"(batch={batch}, seqlen={seq_len})")
    return seq_idx.to(device)


# ---- the mixer ------------------------------------------------------------------------------

def _time_step(mixer, time_step):
    """(b, L, R) -> (dt (b, L, D), bias or None). A plain Linear's bias goes to the kernels, which
    add it in fp32 as transformers does (no fp32 copy is made here); a wrapped one (LoRA, 4-bit)
    must be called as a module, bias included."""
    if type(mixer.dt_proj) is nn.Linear:
        return nn.functional.linear(time_step, mixer.dt_proj.weight), mixer.dt_proj.bias
    return mixer.dt_proj(time_step), None


def _fused_xproj(mixer, x) -> bool:
    """The decode step may compute x_proj inside the conv kernel (decode.conv_xproj): switched on
    at this batch size (_launch.decode_fused_xproj), x_proj and dt_proj plain Linears (a LoRA or
    4-bit wrapper must run as a module), x_proj without a bias and in the activations' dtype, no
    autocast (which would round x_proj's input itself)."""
    from ._launch import decode_fused_xproj

    return (decode_fused_xproj(x.shape[0]) and _plain_linear(mixer.x_proj, x) and type(mixer.dt_proj) is nn.Linear)


def _plain_linear(proj, x) -> bool:
    """A kernel may read `proj`'s weight instead of calling it on x: a plain Linear without a bias,
    its weight in x's dtype and contiguous along its inputs, called without hooks (a LoRA or 4-bit
    wrapper, or accelerate's offload hook, must run as a module), and no autocast (which would
    round proj's input itself)."""
    return (type(proj) is nn.Linear and proj.bias is None and proj.weight.dtype == x.dtype
            and proj.weight.stride(1) == 1 and _calls_plainly(proj) and not torch.is_autocast_enabled(x.device.type))


_XPROJ_ATTR = "_mambalign_xproj_buffers"


def _xproj_buffers(cache_params, layer_idx: int, batch: int, width: int, device):
    """(proj, zero_next) for this layer's conv_xproj. proj, the layer's own fp32 (b, width) buffer
    on the cache, is zero on entry and receives its x_proj sums; zero_next is the buffer of the
    layer that took this path before it (this step's previous layer, or the last one of the step
    before), whose state update has read it, and which this launch zeroes: every buffer is zeroed
    by the next fused layer after its reader, whichever layers take the fallback (a LoRA on some
    layers' x_proj), with no memset per layer. The order is the host's call order, the same in a
    captured graph's replays. A lone fused layer zeroes its own buffer first (a memset). A step
    that stops halfway leaves a buffer unzeroed, as it leaves the states half-advanced: the cache
    is unusable after it either way."""
    ring = getattr(cache_params, _XPROJ_ATTR, None)
    if ring is None or ring["shape"] != (batch, width, device):
        ring = {"shape": (batch, width, device), "bufs": {}, "last": None}
        setattr(cache_params, _XPROJ_ATTR, ring)
    bufs = ring["bufs"]
    if layer_idx not in bufs:
        bufs[layer_idx] = torch.zeros(batch, width, dtype=torch.float32, device=device)
    proj, last = bufs[layer_idx], ring["last"]
    ring["last"] = layer_idx
    if last == layer_idx:
        return proj.zero_(), None
    return proj, bufs[last] if last is not None else None


def _decode_linear(proj, x, use: str):
    """A decode step's in_proj or out_proj (`use`): gemv.gemv with its tile at one row
    (_launch.decode_gemv) when it is a plain Linear (_plain_linear); else the module."""
    from ._launch import decode_gemv, gemv_tile
    from .gemv import gemv

    if decode_gemv(x.numel() // x.shape[-1], use) and _plain_linear(proj, x):
        return gemv(x, proj.weight, gemv_tile(use))
    return proj(x)


def mixer_forward(self, hidden_states, cache_params=None, attention_mask=None, **kwargs):
    from transformers.models.mamba.modeling_mamba import apply_mask_to_padding_states

    from ._launch import decode_state_dtype, scan_recompute
    from .conv import causal_conv1d
    from .decode import conv_update, conv_xproj, state_update

    batch, seq_len, _ = hidden_states.shape
    dtype = hidden_states.dtype
    has_state = cache_params is not None and cache_params.has_previous_state(self.layer_idx)
    seq_idx = _layer_seq_idx(self, batch, seq_len, has_state, hidden_states.device)
    hidden_states = apply_mask_to_padding_states(hidden_states, attention_mask)
    step = has_state and seq_len == 1 and not cache_params.layers[self.layer_idx].record_past
    xz = _decode_linear(self.in_proj, hidden_states, "in_proj") if step else self.in_proj(hidden_states)  # (b, L, 2D)
    x, z = xz.chunk(2, dim=-1)
    weight = self.conv1d.weight.squeeze(1)
    conv_bias = self.conv1d.bias if self.use_conv_bias else None
    silu = _silu_flag(self.activation)

    if step:
        layer = cache_params.layers[self.layer_idx]
        split = [self.time_step_rank, self.ssm_state_size, self.ssm_state_size]
        fused = _fused_xproj(self, x)
        if fused:  # x_proj inside the conv kernel: no GEMM and no split-K reduce per layer
            proj, zero_next = _xproj_buffers(cache_params, self.layer_idx, batch, sum(split), x.device)
            xc = conv_xproj(x[:, 0], layer.conv_states[0], weight, conv_bias, silu, self.x_proj.weight, proj,
                            zero_next)
            ts, B, C = torch.split(proj, split, -1)  # fp32 sums, rounded to the model's dtype in the kernel
        else:
            xc = conv_update(x[:, 0], layer.conv_states[0], weight, conv_bias, silu)  # (b, D)
            ts, B, C = torch.split(self.x_proj(xc), split, -1)
        if type(self.dt_proj) is nn.Linear:  # the kernel applies dt_proj itself: one launch less per layer
            dt, dt_bias, dt_weight = ts, self.dt_proj.bias, self.dt_proj.weight
        else:
            (dt, dt_bias), dt_weight = _time_step(self, ts), None
        y = state_update(layer.recurrent_states[0], xc, dt, self.A_log, B, C, self.D, z[:, 0], dt_bias, True,
                         A_is_log=True, dt_weight=dt_weight, round_inputs=fused)
        return _decode_linear(self.out_proj, y[:, None, :].to(dtype), "out_proj")

    if cache_params is None and torch.is_grad_enabled() and scan_recompute():
        # Training without gradient checkpointing keeps every layer's saved tensors until its
        # backward: keep in_proj's output alone and recompute the conv, x_proj, dt and the scan's
        # chunk states right before this mixer's backward (cheap next to the memory: 2 of the
        # 6 (b, L, D) tensors a layer would keep).
        y = checkpoint(_conv_ssm, self, x, z, seq_idx, attention_mask, [0], use_reentrant=False)
        return self.out_proj(y.transpose(1, 2).to(dtype))

    initial_state = None
    if has_state:
        # Continued prefill: prepend the cached inputs so the convolution sees its left context,
        # and start the scan from the cached state.
        layer = cache_params.layers[self.layer_idx]
        prev = layer.conv_states[0][..., 1:].transpose(1, 2).to(x.dtype)
        x_in = torch.cat([prev, x], dim=1)
        initial_state = layer.recurrent_states[0]
    else:
        x_in = x
    if cache_params is not None:
        cache_params.update_conv_state(x.transpose(1, 2), self.layer_idx, conv_kernel_size=self.conv_kernel_size)
    xc = causal_conv1d(x_in.transpose(1, 2), weight, conv_bias, silu, seq_idx)  # (b, D, L) on (b, L, D)
    if has_state:
        # Only a continued prefill has cached inputs in front to drop. Slicing otherwise would cost
        # the backward a zero-filled (b, D, L) gradient and two transposing copies per layer.
        xc = xc[..., -seq_len:]
    xc = apply_mask_to_padding_states(xc.transpose(1, 2), attention_mask)  # (b, L, D)
    want_state = cache_params is not None
    result = _ssm(self, xc, z, seq_idx, want_state, initial_state)
    if want_state:
        y, last = result
        # The cache is created from the first state stored: its dtype is the one decoding keeps.
        cache_params.update_recurrent_state(last.to(decode_state_dtype(dtype)), self.layer_idx)
    else:
        y = result
    return self.out_proj(y.transpose(1, 2).to(dtype))


def _ssm(self, xc, z, seq_idx, want_state=False, initial_state=None, keep_ckpt=None, need_out=True):
    """Conv output (b, L, D) -> x_proj, dt, selective scan -> y (b, D, L) [, last state]."""
    from .scan import selective_scan

    ts, B, C = torch.split(self.x_proj(xc), [self.time_step_rank, self.ssm_state_size, self.ssm_state_size], -1)
    dt, dt_bias = _time_step(self, ts)
    A = -torch.exp(self.A_log.float())
    return selective_scan(xc.transpose(1, 2), dt.transpose(1, 2), A, B.transpose(1, 2), C.transpose(1, 2),
                          self.D.float(), z.transpose(1, 2), dt_bias, True, want_state, initial_state,
                          seq_idx=seq_idx, keep_ckpt=keep_ckpt, need_out=need_out)


def _conv_ssm(self, x, z, seq_idx, attention_mask, passes):
    """The part of a training forward (no cache) that mixer_forward recomputes in the backward.
    `passes` ([0] per mixer call) counts the runs: the first is the forward, whose chunk states
    the checkpoint would drop; a later one is the recompute, whose output nobody reads."""
    from transformers.models.mamba.modeling_mamba import apply_mask_to_padding_states

    from .conv import causal_conv1d

    xc = causal_conv1d(x.transpose(1, 2), self.conv1d.weight.squeeze(1), self.conv1d.bias if self.use_conv_bias else None,
                       _silu_flag(self.activation), seq_idx)
    xc = apply_mask_to_padding_states(xc.transpose(1, 2), attention_mask)
    # The scan's chunk states come from the recompute (held only during this mixer's backward),
    # its output from the first pass: no pass writes what is thrown away.
    rerun = passes[0] > 0
    passes[0] += 1
    return _ssm(self, xc, z, seq_idx, keep_ckpt=rerun, need_out=not rerun)


# ---- the block and the norms -------------------------------------------------------------------

def _mixer_input_dtype(mixer, device) -> torch.dtype | None:
    """The dtype the norm may hand the mixer in: under autocast, the autocast dtype when in_proj
    rounds its input to it anyway (a plain Linear, or our fused LoRA on one), so the rounding
    moves into the norm kernel and the mixer runs on 16-bit activations (fp32 master weights
    otherwise make it write, mask and re-read fp32 (b, L, d) tensors and round them again for
    every matmul). None otherwise: the norm's own dtype (transformers' behaviour)."""
    from ..lora import FusedLoraLinear

    if not torch.is_autocast_enabled(device.type):
        return None
    proj = mixer.in_proj
    plain = type(proj) is nn.Linear or (isinstance(proj, FusedLoraLinear) and type(proj.get_base_layer()) is nn.Linear)
    return torch.get_autocast_dtype(device.type) if plain else None


def block_forward(self, hidden_states, cache_params=None, attention_mask=None, **kwargs):
    """transformers' MambaBlock.forward with `norm(x.to(norm.weight.dtype))` as one kernel."""
    from .norm import rms_norm

    residual = hidden_states.to(torch.float32) if self.residual_in_fp32 else hidden_states
    # Decoding (a cache) keeps transformers' dtypes: the cache's state dtype follows the mixer's input.
    narrow = _mixer_input_dtype(self.mixer, hidden_states.device) if cache_params is None else None
    h = rms_norm(hidden_states, self.norm.weight, self.norm.variance_epsilon, self.norm.weight.dtype, narrow)
    h = self.mixer(h, cache_params=cache_params, attention_mask=attention_mask)
    return residual + h


def norm_forward(self, hidden_states):
    """transformers' MambaRMSNorm.forward (the final norm_f) as one kernel."""
    from .norm import rms_norm

    return rms_norm(hidden_states, self.weight, self.variance_epsilon, hidden_states.dtype)


def _calls_plainly(module) -> bool:
    """Calling `module` runs its class's forward and nothing else (no hooks, no per-instance
    forward such as accelerate's device-map wrapper), so a loop may call less than it."""
    return not (module._forward_hooks or module._forward_pre_hooks or "forward" in module.__dict__)


def _decode_step(model, input_ids, inputs_embeds, cache_params, output_hidden_states) -> bool:
    """The case model_forward's own loop takes: one token on a cache with state, no gradients,
    no hidden states asked for, our block and norm installed and called without hooks."""
    from transformers.models.mamba import modeling_mamba as mm

    from ._launch import decode_fused_norm

    ids = input_ids if input_ids is not None else inputs_embeds
    if output_hidden_states is None:
        output_hidden_states = model.config.output_hidden_states
    return (cache_params is not None and not output_hidden_states and not torch.is_grad_enabled()
            and (input_ids is None) != (inputs_embeds is None) and ids.dim() >= 2 and ids.shape[1] == 1
            and len(model.layers) > 0 and cache_params.has_previous_state(0) and decode_fused_norm()
            and mm.MambaBlock.forward is block_forward and mm.MambaRMSNorm.forward is norm_forward
            and _calls_plainly(model.norm_f)
            and all(_calls_plainly(b) and _calls_plainly(b.norm) for b in model.layers))


def model_forward(self, input_ids=None, inputs_embeds=None, cache_params=None, use_cache=None,
                  output_hidden_states=None, return_dict=None, attention_mask=None, **kwargs):
    """transformers' MambaModel.forward; for a decode step (_decode_step), each block's residual
    add and the next block's norm (the last block's: norm_f) run as one kernel. A step had run
    the add as its own kernel and the norm as another in each of the 64 layers of the 2.8B model."""
    from transformers.models.mamba.modeling_mamba import MambaOutput

    from .norm import add_rms_norm

    if not _decode_step(self, input_ids, inputs_embeds, cache_params, output_hidden_states):
        return _originals["MambaModel.forward"](
            self, input_ids=input_ids, inputs_embeds=inputs_embeds, cache_params=cache_params, use_cache=use_cache,
            output_hidden_states=output_hidden_states, return_dict=return_dict, attention_mask=attention_mask,
            **kwargs)
    use_cache = use_cache if use_cache is not None else (self.config.use_cache if not self.training else False)
    if self.gradient_checkpointing and self.training and use_cache:
        use_cache = False
    return_dict = return_dict if return_dict is not None else self.config.return_dict
    # (x, h): block i's input is x + h (torch's add), or x alone for the first block, where x is the
    # embeddings (or the caller's inputs_embeds: never written); after it, x is our residual buffer.
    x = inputs_embeds if inputs_embeds is not None else self.embeddings(input_ids)
    h = None
    for block in self.layers:
        norm = block.norm
        sum_dtype = torch.promote_types(x.dtype, h.dtype) if h is not None else x.dtype
        res_dtype = torch.float32 if block.residual_in_fp32 else sum_dtype
        in_place = h is not None and x.dtype == res_dtype
        x, normed = add_rms_norm(x, h, norm.weight, norm.variance_epsilon, norm.weight.dtype, res_dtype,
                                 res_out=x if in_place else None)
        h = block.mixer(normed, cache_params=cache_params, attention_mask=attention_mask)
    norm = self.norm_f
    _, hidden_states = add_rms_norm(x, h, norm.weight, norm.variance_epsilon, torch.promote_types(x.dtype, h.dtype))
    if not return_dict:
        return tuple(v for v in [hidden_states, cache_params] if v is not None)
    return MambaOutput(last_hidden_state=hidden_states, cache_params=cache_params if use_cache else None,
                       hidden_states=None)


def _function_swaps() -> dict:
    """modeling_mamba function name -> our drop-in."""
    return {"mamba_selective_scan": fast_selective_scan, "mamba_selective_state_update": fast_selective_state_update,
            "causal_conv1d_fn": fast_causal_conv1d_fn, "causal_conv1d_update": fast_causal_conv1d_update}


def _replacements(mm) -> dict:
    """Original name -> (class, our forward) for the methods install_fast() replaces."""
    return {"MambaMixer.forward": (mm.MambaMixer, mixer_forward),
            "MambaBlock.forward": (mm.MambaBlock, block_forward),
            "MambaRMSNorm.forward": (mm.MambaRMSNorm, norm_forward),
            "MambaModel.forward": (mm.MambaModel, model_forward)}


def install_fast() -> None:
    """Swap the Triton kernels into modeling_mamba (idempotent)."""
    mm = check_transformers()
    if not _originals:
        for name in _function_swaps():
            _originals[name] = getattr(mm, name)
        for name, (cls, _) in _replacements(mm).items():
            _originals[name] = cls.forward
    for name, ours in _function_swaps().items():
        setattr(mm, name, ours)
    for cls, forward in _replacements(mm).values():
        cls.forward = forward


def install_reference() -> None:
    """Put transformers' own functions back where ours are installed; anything else found there
    (someone else's wrapper, e.g. a test's counting hook) is left alone."""
    if not _originals:
        return
    from transformers.models.mamba import modeling_mamba as mm

    for name, ours in _function_swaps().items():
        if getattr(mm, name) is ours:
            setattr(mm, name, _originals[name])
    for name, (cls, forward) in _replacements(mm).items():
        if cls.forward is forward:
            cls.forward = _originals[name]


def fast_installed() -> bool:
    from transformers.models.mamba import modeling_mamba as mm

    return mm.MambaMixer.forward is mixer_forward
