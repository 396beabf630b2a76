"""Supervised fine-tuning: next-token loss on chat rows, top to bottom.

Rows are either padded (one conversation per row, the loss masked off padding) or, with
`packing`, packed several to a row of `max_seq_length` tokens. Packed rows run with document
boundaries (`seq_idx`) that restart Mamba's conv and SSM states at every conversation, and a
conversation's first token is never a target, so each one trains exactly as it would alone.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext

import torch

from . import distributed, kernels
from .data import ChatEncoder, collate, parse_messages, read_jsonl, token_logps
from .errors import InvalidInput, RuntimeFailure
from .events import EventWriter
from .lm_loss import next_token_nll
from .packing import PackedRows, as_tensors, pack_documents, target_weights
from .spec import RuntimeSpec
from .throughput import Meter
from .training import BatchSchedule, build_optimizer, end_of_step, finish, open_session, optimizer_step, save_if_due
from .train_args import total_steps as count_steps

log = logging.getLogger("mambalign_runtime")


def encode_sft_file(encoder: ChatEncoder, path: str, field: str, assistant_only: bool):
    rows = []
    for number, obj in read_jsonl(path, field):
        where = f"{path}:{number}"
        messages = parse_messages(obj.get("messages"), where, "messages")
        rows.append(encoder.encode_conversation(messages, assistant_only, where))
    return rows


def sum_nll(model, batch) -> tuple[torch.Tensor, int]:
    """Summed negative log-likelihood of the loss-masked tokens, and their count."""
    logps, weights = token_logps(model, batch)
    return -(logps * weights).sum(), int(weights.sum().item())


class PaddedRows:
    """One conversation per row, right-padded per micro-batch."""

    def __init__(self, rows, pad_id: int):
        self.rows, self.pad_id = rows, pad_id

    def __len__(self) -> int:
        return len(self.rows)

    def targets(self, i: int) -> int:
        return sum(self.rows[i][1][1:])

    def collate(self, idx) -> dict[str, torch.Tensor]:
        return collate([self.rows[i] for i in idx], self.pad_id)

    @staticmethod
    def boundaries(model, batch):
        return nullcontext()

    @staticmethod
    def nll(model, batch, scale: float = 1.0) -> torch.Tensor:
        return next_token_nll(model, batch["input_ids"], batch["loss_mask"][:, 1:], scale=scale)

    @staticmethod
    def real_tokens(batch) -> int:
        return int(batch["attention_mask"].sum())


class PackedSftRows:
    """Conversations packed in order into rows of `seq_len` tokens, with document boundaries."""

    def __init__(self, rows, seq_len: int, pad_id: int):
        self.packed = pack_documents(rows, seq_len, pad_id)
        weights = target_weights(torch.from_numpy(self.packed.loss_mask), torch.from_numpy(self.packed.seq_idx))
        self._targets = weights.sum(1).tolist()

    def __len__(self) -> int:
        return len(self.packed)

    def targets(self, i: int) -> int:
        return int(self._targets[i])

    def collate(self, idx) -> dict[str, torch.Tensor]:
        p, idx = self.packed, list(idx)
        return as_tensors(PackedRows(p.input_ids[idx], p.loss_mask[idx], p.seq_idx[idx]))

    @staticmethod
    def boundaries(model, batch):
        # Open through backward: with gradient checkpointing the layers run again there.
        return kernels.packed_sequences(model, batch["seq_idx"])

    @staticmethod
    def nll(model, batch, scale: float = 1.0) -> torch.Tensor:
        return next_token_nll(model, batch["input_ids"], target_weights(batch["loss_mask"], batch["seq_idx"]),
                              scale=scale)

    @staticmethod
    def real_tokens(batch) -> int:
        return int((batch["seq_idx"] >= 0).sum())


def training_rows(rows, args, pad_id: int, kernel_mode: str):
    if not args.packing:
        return PaddedRows(rows, pad_id)
    if kernel_mode != "fast":
        raise InvalidInput("train.args.packing: packed rows need the Triton kernels (document boundaries in the "
                           f"scan and conv), but the kernels in use are {kernel_mode!r} (no CUDA GPU?); set "
                           "packing to false to pad each conversation instead", field="train.args.packing")
    return PackedSftRows(rows, args.max_seq_length, pad_id)


@torch.no_grad()
def eval_loss(model, rows, batch_size: int, pad_id: int, device, world=None, autocast=None) -> float:
    """Mean NLL per loss token; with a world, each rank scores its share of the rows."""
    was_training = model.training
    model.eval()
    mine = [rows[i] for i in distributed.shard(len(rows), world)] if world is not None else rows
    total, count = 0.0, 0
    for i in range(0, len(mine), batch_size):
        batch = {k: v.to(device) for k, v in collate(mine[i:i + batch_size], pad_id).items()}
        with autocast if autocast is not None else torch.autocast(device.type, enabled=False):
            nll, n = sum_nll(model, batch)
        total, count = total + float(nll), count + n
    model.train(was_training)
    total, count = distributed.all_sum([total, float(count)], device)
    return total / max(count, 1)


def run_sft(spec: RuntimeSpec, events: EventWriter, resume: str) -> int:
    s = open_session(spec, events, resume)
    a = s.args
    pad_id = s.tokenizer.pad_token_id
    encoder = ChatEncoder(s.tokenizer, a.max_seq_length, "train.args.chatTemplate")
    rows = encode_sft_file(encoder, spec.train.train_file, "train.trainFile", a.assistant_only_loss)
    eval_rows = (encode_sft_file(encoder, spec.train.eval_file, "train.evalFile", a.assistant_only_loss)
                 if spec.train.eval_file else [])
    train_rows = training_rows(rows, a, pad_id, s.kernel_mode)
    schedule = BatchSchedule(len(train_rows), a.batch_size, a.gradient_accumulation_steps, a.seed, s.world)
    total = count_steps(a, schedule.per_epoch)
    build_optimizer(s, total)
    events.started("sft", total, s.start_step, str(s.device), s.all_versions())

    def evaluate() -> dict[str, float]:
        return {"eval/loss": eval_loss(s.model, eval_rows, a.eval_batch_size, pad_id, s.device, s.world,
                                       s.autocast())}

    meter = Meter(s.start_step, total, s.model, s.device, s.world.size, a.gradient_checkpointing)
    step, stopped = s.start_step, False
    while step < total and not stopped:
        step_start = time.time()
        host = [train_rows.collate(idx) for idx in schedule.step(step)]
        meter.tokens += sum(train_rows.real_tokens(batch) for batch in host)  # counted on the host: no GPU sync
        meter.padded_tokens += sum(batch["input_ids"].numel() for batch in host)
        # Every micro-batch to the GPU now, while it waits for this step anyway: a copy from pageable
        # memory waits for the GPU's queue, which between micro-batches would stall each launch.
        micro = [{key: v.to(s.device) for key, v in batch.items()} for batch in host]
        # Normalise by the whole step's token count (all ranks), so accumulation and data
        # parallelism equal one big batch.
        n_tokens = sum(train_rows.targets(i) for idx in schedule.step_all(step) for i in idx)
        # Summed on the GPU and read once after the optimiser step: reading it per micro-batch would
        # idle the GPU while the optimiser's launches are queued.
        loss_share = torch.zeros((), dtype=torch.float64, device=s.device)
        for k, batch in enumerate(micro):
            with s.micro_batch(k, len(micro)), train_rows.boundaries(s.train_model, batch):
                with s.autocast():
                    # This micro-batch's share of the step's mean NLL (the token count is the host's).
                    loss = train_rows.nll(s.train_model, batch, 1 / max(n_tokens, 1))
                s.backward(loss)
            loss_share += loss.detach()
        lr = s.scheduler.get_last_lr()[0]
        grad_norm = optimizer_step(s)
        step += 1
        end = end_of_step(s, float(loss_share))
        loss_value, stopped = end.loss, end.stop
        if not math.isfinite(loss_value):
            raise RuntimeFailure(f"loss is {loss_value} at step {step}; lower train.args.learningRate")
        if step % a.logging_steps == 0 or step == total:
            m = meter.report(step)
            events.progress(step, total, loss=loss_value, lr=lr, tokens_per_s=m["tokens_per_s"],
                            grad_norm=grad_norm, eta_s=m["eta_s"], mfu=m["mfu"], gpu_mem_gib=m["gpu_mem_gib"],
                            extra={"train/padded_tokens_per_s": m["padded_tokens_per_s"]})
        log.debug("step %d took %.3fs", step, time.time() - step_start)
        if eval_rows and a.eval_steps and step % a.eval_steps == 0 and step < total:
            events.metrics("eval", step, evaluate())
        save_if_due(s, step, total, end)
    if eval_rows and not stopped:
        events.metrics("eval", step, evaluate())
    return finish(s, step, total, stopped=stopped)
