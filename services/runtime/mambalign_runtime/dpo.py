"""Direct Preference Optimisation, top to bottom.

The reference model is the policy before training (with LoRA: adapters disabled); its
log-probs are computed once, in a first pass, and kept with every checkpoint, so a second
model is never held in memory.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch

from .data import ChatEncoder, collate, parse_preference, read_jsonl, token_logps
from .dpo_loss import dpo_loss
from .errors import RuntimeFailure
from .events import EventWriter
from .spec import RuntimeSpec
from .training import BatchSchedule, Meter, build_optimizer, finish, open_session, optimizer_step, save, versions
from .train_args import total_steps as count_steps

Pair = tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]


def encode_pairs(encoder: ChatEncoder, path: str, field: str, max_prompt_length: int) -> list[Pair]:
    pairs = []
    for number, obj in read_jsonl(path, field):
        where = f"{path}:{number}"
        row = parse_preference(obj, where)
        pairs.append((encoder.encode_completion(row.prompt, row.chosen, max_prompt_length, where),
                      encoder.encode_completion(row.prompt, row.rejected, max_prompt_length, where)))
    return pairs


def pair_logps(model, pairs: list[Pair], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed completion log-probs of chosen and rejected, one forward over both."""
    batch = collate([p[0] for p in pairs] + [p[1] for p in pairs], pad_id)
    batch = {k: v.to(device) for k, v in batch.items()}
    logps, weights = token_logps(model, batch)
    sums = (logps * weights).sum(-1)
    return sums[: len(pairs)], sums[len(pairs):]


@torch.no_grad()
def reference_logps(model, pairs: list[Pair], batch_size: int, pad_id: int, device) -> dict[str, torch.Tensor]:
    was_training = model.training
    model.eval()
    chosen, rejected = [], []
    # With LoRA the reference is the base (adapters off); a full fine-tune has not moved yet.
    with model.disable_adapter() if hasattr(model, "peft_config") else nullcontext():
        for i in range(0, len(pairs), batch_size):
            c, r = pair_logps(model, pairs[i:i + batch_size], pad_id, device)
            chosen.append(c.float().cpu())
            rejected.append(r.float().cpu())
    model.train(was_training)
    return {"chosen": torch.cat(chosen), "rejected": torch.cat(rejected)}


def reward_metrics(chosen_rewards, rejected_rewards, policy_chosen, policy_rejected, prefix: str = "") -> dict:
    return {
        f"{prefix}rewards/chosen": float(chosen_rewards.mean()),
        f"{prefix}rewards/rejected": float(rejected_rewards.mean()),
        f"{prefix}rewards/accuracies": float((chosen_rewards > rejected_rewards).float().mean()),
        f"{prefix}rewards/margins": float((chosen_rewards - rejected_rewards).mean()),
        f"{prefix}logps/chosen": float(policy_chosen.detach().mean()),
        f"{prefix}logps/rejected": float(policy_rejected.detach().mean()),
    }


@torch.no_grad()
def evaluate(s, pairs, ref, pad_id) -> dict[str, float]:
    a = s.args
    s.model.eval()
    pc, pr = [], []
    for i in range(0, len(pairs), a.eval_batch_size):
        c, r = pair_logps(s.model, pairs[i:i + a.eval_batch_size], pad_id, s.device)
        pc.append(c.float().cpu())
        pr.append(r.float().cpu())
    s.model.train()
    pc, pr = torch.cat(pc), torch.cat(pr)
    losses, cr, rr = dpo_loss(pc, pr, ref["chosen"], ref["rejected"], a.dpo_beta, a.dpo_loss_type)
    return {"eval/loss": float(losses.mean()), **reward_metrics(cr, rr, pc, pr, "eval/")}


def run_dpo(spec: RuntimeSpec, events: EventWriter, resume: str) -> int:
    s = open_session(spec, events, resume)
    a = s.args
    pad_id = s.tokenizer.pad_token_id
    encoder = ChatEncoder(s.tokenizer, a.dpo_max_length, "train.args.chatTemplate")
    pairs = encode_pairs(encoder, spec.train.train_file, "train.trainFile", a.dpo_max_prompt_length)
    eval_pairs = (encode_pairs(encoder, spec.train.eval_file, "train.evalFile", a.dpo_max_prompt_length)
                  if spec.train.eval_file else [])
    schedule = BatchSchedule(len(pairs), a.batch_size, a.gradient_accumulation_steps, a.seed)
    total = count_steps(a, schedule.per_epoch)
    build_optimizer(s, total)

    # First pass: reference log-probs of every pair (or the checkpoint's copy when resuming).
    if s.resume_dir:
        from .checkpoint import load_tensors

        refs = load_tensors(s.resume_dir, "reference_logps")
    else:
        refs = {"train": reference_logps(s.model, pairs, a.eval_batch_size, pad_id, s.device)}
        if eval_pairs:
            refs["eval"] = reference_logps(s.model, eval_pairs, a.eval_batch_size, pad_id, s.device)
    ref = refs["train"]
    extra = {"reference_logps": refs}

    events.started("dpo", total, s.start_step, str(s.device), versions(s.kernel_mode))
    meter = Meter(s.start_step, total)
    step = s.start_step
    while step < total and not s.stop.requested:
        micro = schedule.step(step)
        n_pairs = sum(len(idx) for idx in micro)
        loss_value = 0.0
        collected = {"cr": [], "rr": [], "pc": [], "pr": []}
        for idx in micro:
            with s.autocast():
                pc, pr = pair_logps(s.model, [pairs[i] for i in idx], pad_id, s.device)
            index = torch.tensor(idx)
            losses, cr, rr = dpo_loss(pc.float(), pr.float(), ref["chosen"][index].to(s.device),
                                      ref["rejected"][index].to(s.device), a.dpo_beta, a.dpo_loss_type)
            loss = losses.sum() / n_pairs
            loss.backward()
            loss_value += float(loss.detach())
            for key, value in (("cr", cr), ("rr", rr), ("pc", pc), ("pr", pr)):
                collected[key].append(value.detach().float().cpu())
            meter.tokens += sum(len(pairs[i][0][0]) + len(pairs[i][1][0]) for i in idx)
        lr = s.scheduler.get_last_lr()[0]
        grad_norm = optimizer_step(s)
        step += 1
        if not math.isfinite(loss_value):
            raise RuntimeFailure(f"loss is {loss_value} at step {step}; lower train.args.learningRate")
        if step % a.logging_steps == 0 or step == total:
            c = {k: torch.cat(v) for k, v in collected.items()}
            tokens_per_s, eta = meter.rates(step)
            events.progress(step, total, loss=loss_value, lr=lr, tokens_per_s=tokens_per_s, grad_norm=grad_norm,
                            eta_s=eta, extra=reward_metrics(c["cr"], c["rr"], c["pc"], c["pr"]))
        if eval_pairs and a.eval_steps and step % a.eval_steps == 0 and step < total:
            events.metrics("eval", step, evaluate(s, eval_pairs, refs["eval"], pad_id))
        if step % a.save_steps == 0 and step < total and not s.stop.requested:
            save(s, step, "interval", total, extra)
    if eval_pairs and not s.stop.requested:
        events.metrics("eval", step, evaluate(s, eval_pairs, refs["eval"], pad_id))
    return finish(s, step, total, extra)
