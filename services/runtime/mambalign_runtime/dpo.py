"""Direct Preference Optimisation, top to bottom.

The reference model is the policy before training (with LoRA: adapters disabled; a full
fine-tune: the weights before step 1); its log-probs are computed once, in a first pass shared
by the ranks, cached next to the run (reference_cache.py) and kept with every checkpoint, so a
second model is never held in memory.
"""

from __future__ import annotations

import logging
import math
from contextlib import nullcontext

import torch

from . import distributed, reference_cache
from .checkpoint import load_tensors
from .data import ChatEncoder, collate, parse_preference, read_jsonl, token_logps
from .dpo_loss import dpo_loss, rpo_nll
from .errors import RuntimeFailure
from .events import EventWriter
from .spec import RuntimeSpec
from .throughput import Meter
from .training import BatchSchedule, build_optimizer, end_of_step, finish, open_session, optimizer_step, save_if_due
from .train_args import total_steps as count_steps

log = logging.getLogger("mambalign_runtime")

Pair = tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]


def encode_pairs(encoder: ChatEncoder, path: str, field: str, max_prompt_length: int) -> list[Pair]:
    pairs = []
    for number, obj in read_jsonl(path, field):
        where = f"{path}:{number}"
        row = parse_preference(obj, where)
        pairs.append((encoder.encode_completion(row.prompt, row.chosen, max_prompt_length, where),
                      encoder.encode_completion(row.prompt, row.rejected, max_prompt_length, where)))
    return pairs


def pair_logps(model, pairs: list[Pair], pad_id: int, device, with_counts: bool = False):
    """Summed completion log-probs of chosen and rejected, one forward over both
    (and, with_counts, the number of chosen completion tokens, for the per-token NLL)."""
    batch = collate([p[0] for p in pairs] + [p[1] for p in pairs], pad_id)
    batch = {k: v.to(device) for k, v in batch.items()}
    logps, weights = token_logps(model, batch)
    sums = (logps * weights).sum(-1)
    if with_counts:
        return sums[: len(pairs)], sums[len(pairs):], weights[: len(pairs)].sum(-1)
    return sums[: len(pairs)], sums[len(pairs):]


@torch.no_grad()
def _sharded_logps(s, pairs: list[Pair], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed completion log-probs of every pair (`s.model` as it is now): each rank scores its
    share and the sums are exchanged, so every rank ends with all of them."""
    mine = distributed.shard(len(pairs), s.world)
    chosen, rejected = torch.zeros(len(pairs)), torch.zeros(len(pairs))
    batch = s.args.eval_batch_size
    for i in range(0, len(mine), batch):
        idx = mine[i:i + batch]
        with s.autocast():
            c, r = pair_logps(s.model, [pairs[j] for j in idx], pad_id, s.device)
        chosen[idx], rejected[idx] = c.float().cpu(), r.float().cpu()
    return distributed.sum_tensor(chosen, s.device), distributed.sum_tensor(rejected, s.device)


def reference_logps(s, pairs: list[Pair], pad_id: int) -> dict[str, torch.Tensor]:
    was_training = s.model.training
    s.model.eval()
    # With LoRA the reference is the base (adapters off); a full fine-tune has not moved yet.
    with s.model.disable_adapter() if hasattr(s.model, "peft_config") else nullcontext():
        chosen, rejected = _sharded_logps(s, pairs, pad_id)
    s.model.train(was_training)
    return {"chosen": chosen, "rejected": rejected}


def cached_reference(s, pairs: list[Pair], data_file: str, pad_id: int) -> tuple[dict[str, torch.Tensor], str, bool]:
    """(reference log-probs, cache file, whether it was a hit): the cache is read when its key
    matches, else the first pass runs and rank 0 writes it."""
    a = s.args
    key = reference_cache.cache_key(
        s.model_versions, data_file, max_length=a.dpo_max_length, max_prompt_length=a.dpo_max_prompt_length,
        chat_template=s.tokenizer.chat_template, precision=s.precision.name, kernels=s.kernel_mode)
    directory = s.spec.train.reference_cache_dir or s.spec.output_dir
    cached = reference_cache.load(directory, key, len(pairs))
    # Every rank must agree (a file written between two ranks' reads would split them).
    hit = distributed.all_sum([0.0 if cached is None else 1.0], s.device)[0] == s.world.size
    if not hit:
        cached = reference_logps(s, pairs, pad_id)
        if s.world.is_main:
            reference_cache.store(directory, key, cached)
        distributed.barrier()
    log.info("reference log-probs of %s: %s (%s)", data_file, "cache hit" if hit else "computed",
             reference_cache.cache_path(directory, key))
    return cached, str(reference_cache.cache_path(directory, key)), hit


REWARD_SUMS = ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
               "logps/rejected")


def reward_sums(cr, rr, pc, pr) -> list[float]:
    """Sums behind reward_metrics, plus the pair count last (so ranks can add them up)."""
    return [float(cr.sum()), float(rr.sum()), float((cr > rr).float().sum()), float((cr - rr).sum()),
            float(pc.detach().float().sum()), float(pr.detach().float().sum()), float(cr.numel())]


def reward_metrics_from_sums(sums: list[float], prefix: str = "") -> dict[str, float]:
    n = max(sums[-1], 1.0)
    return {f"{prefix}{name}": value / n for name, value in zip(REWARD_SUMS, sums[:-1])}


def reward_metrics(chosen_rewards, rejected_rewards, policy_chosen, policy_rejected, prefix: str = "") -> dict:
    return reward_metrics_from_sums(reward_sums(chosen_rewards, rejected_rewards, policy_chosen, policy_rejected),
                                    prefix)


def evaluate(s, pairs, ref, pad_id) -> dict[str, float]:
    a = s.args
    s.model.eval()
    pc, pr = _sharded_logps(s, pairs, pad_id)
    s.model.train()
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
    schedule = BatchSchedule(len(pairs), a.batch_size, a.gradient_accumulation_steps, a.seed, s.world)
    total = count_steps(a, schedule.per_epoch)
    build_optimizer(s, total)

    # First pass: reference log-probs of every pair (the checkpoint's copy when resuming, else the cache).
    started_versions = s.all_versions()
    if s.resume_dir:
        refs = load_tensors(s.resume_dir, "reference_logps")
        started_versions["dpo.reference_logps"] = f"checkpoint:{s.resume_dir}"
    else:
        refs = {}
        refs["train"], path, hit = cached_reference(s, pairs, spec.train.train_file, pad_id)
        started_versions["dpo.reference_logps"] = f"{'cache hit' if hit else 'computed'}:{path}"
        if eval_pairs:
            refs["eval"], _, _ = cached_reference(s, eval_pairs, spec.train.eval_file, pad_id)
    ref = refs["train"]
    extra = {"reference_logps": refs}

    events.started("dpo", total, s.start_step, str(s.device), started_versions)
    meter = Meter(s.start_step, total, s.model, s.device, s.world.size, a.gradient_checkpointing)
    step, stopped = s.start_step, False
    while step < total and not stopped:
        micro = schedule.step(step)
        # The step's pairs over all ranks normalise the loss, as one big batch would.
        n_pairs = sum(len(idx) for idx in schedule.step_all(step))
        loss_share = 0.0
        collected = {"cr": [], "rr": [], "pc": [], "pr": []}
        for k, idx in enumerate(micro):
            with s.micro_batch(k, len(micro)):
                with s.autocast():
                    pc, pr, n_chosen = pair_logps(s.train_model, [pairs[i] for i in idx], pad_id, s.device,
                                                  with_counts=True)
                index = torch.tensor(idx)
                losses, cr, rr = dpo_loss(pc.float(), pr.float(), ref["chosen"][index].to(s.device),
                                          ref["rejected"][index].to(s.device), a.dpo_beta, a.dpo_loss_type)
                if a.dpo_rpo_alpha > 0:
                    losses = losses + a.dpo_rpo_alpha * rpo_nll(pc.float(), n_chosen)
                loss = losses.sum() / n_pairs
                s.backward(loss)
            loss_share += float(loss.detach())
            for key, value in (("cr", cr), ("rr", rr), ("pc", pc), ("pr", pr)):
                collected[key].append(value.detach().float().cpu())
            meter.tokens += sum(len(pairs[i][0][0]) + len(pairs[i][1][0]) for i in idx)
        lr = s.scheduler.get_last_lr()[0]
        grad_norm = optimizer_step(s)
        step += 1
        end = end_of_step(s, loss_share)
        loss_value, stopped = end.loss, end.stop
        if not math.isfinite(loss_value):
            raise RuntimeFailure(f"loss is {loss_value} at step {step}; lower train.args.learningRate")
        if step % a.logging_steps == 0 or step == total:
            c = {k: torch.cat(v) for k, v in collected.items()}
            sums = distributed.all_sum(reward_sums(c["cr"], c["rr"], c["pc"], c["pr"]), s.device)
            m = meter.report(step)
            events.progress(step, total, loss=loss_value, lr=lr, tokens_per_s=m["tokens_per_s"], grad_norm=grad_norm,
                            eta_s=m["eta_s"], mfu=m["mfu"], gpu_mem_gib=m["gpu_mem_gib"],
                            extra=reward_metrics_from_sums(sums))
        if eval_pairs and a.eval_steps and step % a.eval_steps == 0 and step < total:
            events.metrics("eval", step, evaluate(s, eval_pairs, refs["eval"], pad_id))
        save_if_due(s, step, total, end, extra)
    if eval_pairs and not stopped:
        events.metrics("eval", step, evaluate(s, eval_pairs, refs["eval"], pad_id))
    return finish(s, step, total, extra, stopped=stopped)
