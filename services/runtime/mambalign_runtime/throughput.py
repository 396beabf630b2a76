"""Throughput metrics of a training run: tokens/s over all ranks, MFU, peak GPU memory, ETA.

MFU (model FLOPs utilisation) = F · tokens_per_s / (world_size · peak), F = FLOPs per token:
  2·P          forward matmuls, P = every parameter of the model (frozen ones too);
  + 2·P        input-gradient matmuls of the backward (they run under LoRA too);
  + 2·T        weight-gradient matmuls, T = trainable parameters (all of them for full
               fine-tuning: F = 6·P; a LoRA adapter's few: F ≈ 4·P);
  + 2·P        with gradient checkpointing (the forward runs again in the backward);
  tokens_per_s real (non-padding) tokens of all ranks per second of wall time (the progress
               event's tokensPerS; `bench` counts batch x seq of full rows, the same tokens when
               no row is padded); padded_tokens_per_s, every position the model ran, padding
               included (the GPU's work; SFT progress extra `train/padded_tokens_per_s`);
  peak         the card's dense bf16 tensor FLOP/s (table below, or MAMBALIGN_PEAK_TFLOPS).
This is the issue's and `bench`'s definition (4·P for LoRA, 6·P with checkpointing).
The selective scan and the convolution (O(d_inner · d_state) per token, < 1% at 2.8B) are not
counted. On a CPU, or a card not in the table, MFU is 0.
"""

from __future__ import annotations

import logging
import os
import time

import torch

from . import distributed

log = logging.getLogger("mambalign_runtime")

PEAK_TFLOPS_ENV = "MAMBALIGN_PEAK_TFLOPS"
# Dense bf16 tensor-core TFLOP/s from NVIDIA's data sheets; the first name found in the device name wins.
PEAK_BF16_TFLOPS = (("H200", 989.0), ("GH200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0),
                    ("H800", 989.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0), ("L4", 121.0))


def peak_flops(device: torch.device) -> float:
    """Peak dense bf16 FLOP/s of one card, 0 when unknown (CPU, unlisted GPU)."""
    override = os.environ.get(PEAK_TFLOPS_ENV)
    if override:
        return float(override) * 1e12
    if device.type != "cuda":
        return 0.0
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in name:
            return tflops * 1e12
    log.warning("no peak FLOP/s known for %r: MFU is reported as 0 (set %s)", name, PEAK_TFLOPS_ENV)
    return 0.0


def count_parameters(model: torch.nn.Module) -> int:
    total = 0
    for p in model.parameters():
        # A bitsandbytes 4-bit weight packs two values per element.
        total += p.numel() * (2 if getattr(p, "quant_state", None) is not None else 1)
    return total


def flops_per_token(params: int, trainable: int, gradient_checkpointing: bool) -> int:
    return 2 * params + 2 * params + 2 * trainable + (2 * params if gradient_checkpointing else 0)


def mfu(flops: int, tokens_per_s: float, world_size: int, peak: float) -> float:
    if peak <= 0:
        return 0.0
    return flops * tokens_per_s / (world_size * peak)


class Meter:
    """Counts this rank's tokens; `report()` is a collective (every rank calls it at the same step).

    tokens/s and MFU are over the interval since the previous report (what the run does now, not
    diluted by start-up and kernel compilation); the ETA uses the average since the loop began."""

    def __init__(self, start_step: int, total: int, model: torch.nn.Module, device: torch.device, world_size: int,
                 gradient_checkpointing: bool):
        self.t0 = time.time()
        self.start_step = start_step
        self.total = total
        self.tokens = 0
        self.padded_tokens = 0  # every position run, padding included
        self._last = (self.t0, 0.0, 0.0)  # (time, tokens, padded tokens of all ranks) at the previous report
        self.device = device
        self.world_size = world_size
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.flops = flops_per_token(count_parameters(model), trainable, gradient_checkpointing)
        self.peak = peak_flops(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def report(self, step: int) -> dict[str, float]:
        """tokens_per_s and padded_tokens_per_s (all ranks), eta_s, mfu, gpu_mem_gib (peak allocated, the largest rank's)."""
        now = time.time()
        done = max(step - self.start_step, 1)
        memory = torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else 0.0
        tokens, padded = distributed.all_sum([float(self.tokens), float(self.padded_tokens)], self.device)
        memory, = distributed.all_max([memory], self.device)
        last_time, last_tokens, last_padded = self._last
        self._last = (now, tokens, padded)
        interval = max(now - last_time, 1e-9)
        tokens_per_s = (tokens - last_tokens) / interval
        elapsed = max(now - self.t0, 1e-9)
        return {"tokens_per_s": tokens_per_s, "padded_tokens_per_s": (padded - last_padded) / interval,
                "eta_s": elapsed / done * (self.total - step),
                "mfu": mfu(self.flops, tokens_per_s, self.world_size, self.peak),
                "gpu_mem_gib": memory}
