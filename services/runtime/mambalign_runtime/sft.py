"""Supervised fine-tuning: next-token loss on chat rows, top to bottom."""

from __future__ import annotations

import logging
import math
import time

import torch

from . import distributed
from .data import ChatEncoder, collate, parse_messages, read_jsonl, token_logps
from .errors import RuntimeFailure
from .events import EventWriter
from .spec import RuntimeSpec
from .throughput import Meter
from .training import BatchSchedule, build_optimizer, end_of_step, finish, open_session, optimizer_step, save
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
    schedule = BatchSchedule(len(rows), a.batch_size, a.gradient_accumulation_steps, a.seed, s.world)
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
        micro = [collate([rows[i] for i in idx], pad_id) for idx in schedule.step(step)]
        # Normalise by the whole step's token count (all ranks), so accumulation and data
        # parallelism equal one big batch.
        n_tokens = sum(sum(rows[i][1][1:]) for idx in schedule.step_all(step) for i in idx)
        loss_share = 0.0
        for k, batch in enumerate(micro):
            batch = {key: v.to(s.device) for key, v in batch.items()}
            with s.micro_batch(k, len(micro)):
                with s.autocast():
                    nll, _ = sum_nll(s.train_model, batch)
                loss = nll / n_tokens
                s.backward(loss)
            loss_share += float(loss.detach())
            meter.tokens += int(batch["attention_mask"].sum())
        lr = s.scheduler.get_last_lr()[0]
        grad_norm = optimizer_step(s)
        step += 1
        loss_value, stopped = end_of_step(s, loss_share)
        if not math.isfinite(loss_value):
            raise RuntimeFailure(f"loss is {loss_value} at step {step}; lower train.args.learningRate")
        if step % a.logging_steps == 0 or step == total:
            m = meter.report(step)
            events.progress(step, total, loss=loss_value, lr=lr, tokens_per_s=m["tokens_per_s"],
                            grad_norm=grad_norm, eta_s=m["eta_s"], mfu=m["mfu"], gpu_mem_gib=m["gpu_mem_gib"])
        log.debug("step %d took %.3fs", step, time.time() - step_start)
        if eval_rows and a.eval_steps and step % a.eval_steps == 0 and step < total:
            events.metrics("eval", step, evaluate())
        if step % a.save_steps == 0 and step < total and not stopped:
            save(s, step, "interval", total)
    if eval_rows and not stopped:
        events.metrics("eval", step, evaluate())
    return finish(s, step, total, stopped=stopped)
