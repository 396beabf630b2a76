"""Supervised fine-tuning: next-token loss on chat rows, top to bottom."""

from __future__ import annotations

import logging
import math
import time

import torch

from .data import ChatEncoder, collate, parse_messages, read_jsonl, token_logps
from .errors import RuntimeFailure
from .events import EventWriter
from .spec import RuntimeSpec
from .training import BatchSchedule, Meter, build_optimizer, finish, open_session, optimizer_step, save, versions
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
def eval_loss(model, rows, batch_size: int, pad_id: int, device) -> float:
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        batch = {k: v.to(device) for k, v in collate(rows[i:i + batch_size], pad_id).items()}
        nll, n = sum_nll(model, batch)
        total, count = total + float(nll), count + n
    model.train(was_training)
    return total / max(count, 1)


def run_sft(spec: RuntimeSpec, events: EventWriter, resume: str) -> int:
    s = open_session(spec, events, resume)
    a = s.args
    pad_id = s.tokenizer.pad_token_id
    encoder = ChatEncoder(s.tokenizer, a.max_seq_length, "train.args.chatTemplate")
    rows = encode_sft_file(encoder, spec.train.train_file, "train.trainFile", a.assistant_only_loss)
    eval_rows = (encode_sft_file(encoder, spec.train.eval_file, "train.evalFile", a.assistant_only_loss)
                 if spec.train.eval_file else [])
    schedule = BatchSchedule(len(rows), a.batch_size, a.gradient_accumulation_steps, a.seed)
    total = count_steps(a, schedule.per_epoch)
    build_optimizer(s, total)
    events.started("sft", total, s.start_step, str(s.device), versions(s.kernel_mode))
    meter = Meter(s.start_step, total)
    step = s.start_step
    while step < total and not s.stop.requested:
        step_start = time.time()
        micro = [collate([rows[i] for i in idx], pad_id) for idx in schedule.step(step)]
        # Normalise by the whole step's token count, so accumulation equals one big batch.
        n_tokens = sum(int(b["loss_mask"][:, 1:].sum()) for b in micro)
        loss_value = 0.0
        for batch in micro:
            batch = {k: v.to(s.device) for k, v in batch.items()}
            with s.autocast():
                nll, _ = sum_nll(s.model, batch)
            loss = nll / n_tokens
            loss.backward()
            loss_value += float(loss.detach())
            meter.tokens += int(batch["attention_mask"].sum())
        lr = s.scheduler.get_last_lr()[0]
        grad_norm = optimizer_step(s)
        step += 1
        if not math.isfinite(loss_value):
            raise RuntimeFailure(f"loss is {loss_value} at step {step}; lower train.args.learningRate")
        if step % a.logging_steps == 0 or step == total:
            tokens_per_s, eta = meter.rates(step)
            events.progress(step, total, loss=loss_value, lr=lr, tokens_per_s=tokens_per_s, grad_norm=grad_norm,
                            eta_s=eta)
        log.debug("step %d took %.3fs", step, time.time() - step_start)
        if eval_rows and a.eval_steps and step % a.eval_steps == 0 and step < total:
            events.metrics("eval", step, {"eval/loss": eval_loss(s.model, eval_rows, a.eval_batch_size, pad_id,
                                                                  s.device)})
        if step % a.save_steps == 0 and step < total and not s.stop.requested:
            save(s, step, "interval", total)
    if eval_rows and not s.stop.requested:
        events.metrics("eval", step, {"eval/loss": eval_loss(s.model, eval_rows, a.eval_batch_size, pad_id, s.device)})
    return finish(s, step, total)
