"""Packing tokenised documents into fixed-length rows for Mamba, with boundaries and loss masks.

Mamba has no attention mask: a packed row only trains correctly if the conv and SSM states are
reset where a document starts (the kernels' `seq_idx`, kernels/patch.py `packed_sequences`). So every row carries `seq_idx`, the index of
the document each token belongs to within its row (-1 on padding), from which boundaries and
the next-token loss weights follow. Documents are never split across rows (each keeps its whole
context), so one longer than the row was already truncated by the tokeniser.

A shard is a safetensors file with, per row of length L:
  input_ids (R, L) int32, loss_mask (R, L) uint8, seq_idx (R, L) int32.
Packing is numpy-only so the datasets job never imports torch; `as_tensors` hands rows to a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

Document = tuple[list[int], list[int]]  # (ids, loss mask)


@dataclass
class PackedRows:
    input_ids: np.ndarray  # (R, L) int32
    loss_mask: np.ndarray  # (R, L) uint8: 1 where the token is a training target
    seq_idx: np.ndarray  # (R, L) int32: document index within the row, -1 on padding

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def _check(docs: list[Document], seq_len: int) -> None:
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2, got {seq_len}")
    for i, (ids, mask) in enumerate(docs):
        if len(ids) != len(mask):
            raise ValueError(f"document {i}: {len(ids)} ids but {len(mask)} loss-mask entries")
        if not 0 < len(ids) <= seq_len:
            raise ValueError(f"document {i}: length {len(ids)} not in [1, {seq_len}] (truncate before packing)")


def _rows(groups: list[list[Document]], seq_len: int, pad_id: int) -> PackedRows:
    n = len(groups)
    input_ids = np.full((n, seq_len), pad_id, dtype=np.int32)
    loss_mask = np.zeros((n, seq_len), dtype=np.uint8)
    seq_idx = np.full((n, seq_len), -1, dtype=np.int32)
    for r, group in enumerate(groups):
        at = 0
        for d, (ids, mask) in enumerate(group):
            input_ids[r, at:at + len(ids)] = ids
            loss_mask[r, at:at + len(ids)] = mask
            seq_idx[r, at:at + len(ids)] = d
            at += len(ids)
    return PackedRows(input_ids, loss_mask, seq_idx)


def pack_documents(docs: list[Document], seq_len: int, pad_id: int) -> PackedRows:
    """Greedy in order: a document goes in the current row if it fits, else starts the next.

    In-order (not best-fit) keeps the output a pure function of the input order, which the
    datasets service has already made deterministic by seed."""
    _check(docs, seq_len)
    groups: list[list[Document]] = []
    used = seq_len
    for doc in docs:
        if used + len(doc[0]) > seq_len:
            groups.append([])
            used = 0
        groups[-1].append(doc)
        used += len(doc[0])
    return _rows(groups, seq_len, pad_id)


def pad_documents(docs: list[Document], seq_len: int, pad_id: int) -> PackedRows:
    """One document per row, right-padded (packing off): the same shard layout."""
    _check(docs, seq_len)
    return _rows([[d] for d in docs], seq_len, pad_id)


def as_tensors(rows: PackedRows) -> dict:
    """The rows as torch tensors (input_ids long) for a model."""
    import torch

    return {"input_ids": torch.from_numpy(rows.input_ids).long(), "loss_mask": torch.from_numpy(rows.loss_mask),
            "seq_idx": torch.from_numpy(rows.seq_idx)}


def target_weights(loss_mask, seq_idx):
    """(b, L-1) bool weights for next-token loss (torch tensors in, out): position t predicts t+1,
    which counts when it is in the loss mask and in the same document as t (a document's first
    token has no context from its own document, exactly as when the document runs alone)."""
    same_doc = (seq_idx[:, 1:] == seq_idx[:, :-1]) & (seq_idx[:, 1:] >= 0)
    return loss_mask[:, 1:].bool() & same_doc


def write_shard(path: str | Path, rows: PackedRows) -> None:
    from safetensors.numpy import save_file

    save_file({"input_ids": np.ascontiguousarray(rows.input_ids), "loss_mask": np.ascontiguousarray(rows.loss_mask),
               "seq_idx": np.ascontiguousarray(rows.seq_idx)}, str(path), metadata={"format": "mambalign.packed.v1"})


def read_shard(path: str | Path) -> PackedRows:
    from safetensors.numpy import load_file

    t = load_file(str(path))
    missing = [k for k in ("input_ids", "loss_mask", "seq_idx") if k not in t]
    if missing:
        raise ValueError(f"{path}: not a packed shard (missing {', '.join(missing)})")
    return PackedRows(t["input_ids"], t["loss_mask"], t["seq_idx"])
